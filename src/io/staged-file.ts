/**
 * A file whose header is known only at the end (safetensors and GGUF: the header lists every
 * tensor's offset). Tensors are appended to a body file beside the target as they come, so memory
 * holds one tensor; `finish` writes the header, then copies the body behind it and removes it.
 * Callers write to a temporary path (pipeline/atomic.ts), so a failure leaves nothing half-written
 * at the final path.
 */
import { LowbitError, describeFsError } from '../util/errors.js';
import { files, type WritableFile } from './host.js';

export class StagedFile {
  readonly bodyPath: string;
  private readonly body: WritableFile;
  /** Bytes appended so far. */
  length = 0;

  constructor(readonly path: string) {
    this.bodyPath = `${path}.body`;
    this.body = writing(path, () => files().createWrite(this.bodyPath));
  }

  append(bytes: Uint8Array): void {
    writing(this.path, () => this.body.write(bytes));
    this.length += bytes.byteLength;
  }

  /** Writes `header` (with any padding it needs) and the body behind it, then removes the body file. */
  finish(header: Uint8Array): void {
    this.body.close();
    const host = files();
    const out = writing(this.path, () => host.createWrite(this.path));
    try {
      writing(this.path, () => out.write(header));
      const body = host.openRead(this.bodyPath);
      const chunk = new Uint8Array(1 << 24);
      try {
        for (let pos = 0; pos < this.length; ) {
          const n = body.read(chunk.subarray(0, Math.min(chunk.length, this.length - pos)), pos);
          if (n === 0) throw new LowbitError('the body file ended early', this.bodyPath);
          writing(this.path, () => out.write(chunk.subarray(0, n)));
          pos += n;
        }
      } finally {
        body.close();
      }
    } finally {
      out.close();
    }
    host.remove(this.bodyPath);
  }

  /** Closes and removes the body file (on errors). */
  abort(): void {
    try { this.body.close(); } catch { /* already closed */ }
    files().remove(this.bodyPath);
  }
}

/** Runs a write, turning the host's error into a one-line error naming the file. */
export function writing<T>(file: string, op: () => T): T {
  try {
    return op();
  } catch (e) {
    throw new LowbitError(`cannot write: ${describeFsError(e)}`, file);
  }
}

/** Copies a file byte for byte (a file the output carries over from the source, such as tokenizer.json). */
export function copyFile(from: string, to: string): void {
  const host = files();
  const src = host.openRead(from);
  try {
    const out = writing(to, () => host.createWrite(to));
    try {
      const chunk = new Uint8Array(Math.min(1 << 24, Math.max(1, src.size)));
      for (let pos = 0, n; (n = src.read(chunk, pos)) > 0; pos += n) writing(to, () => out.write(chunk.subarray(0, n)));
    } finally {
      out.close();
    }
  } finally {
    src.close();
  }
}

/** Writes a whole text file. */
export function writeText(file: string, text: string): void {
  const out = writing(file, () => files().createWrite(file));
  try {
    writing(file, () => out.write(new TextEncoder().encode(text)));
  } finally {
    out.close();
  }
}
