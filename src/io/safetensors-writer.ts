/**
 * Streaming safetensors writer. Tensors are appended one at a time to a body file beside the
 * target (so memory holds one tensor, and the header need not be known in advance); `finish`
 * writes the header, then copies the body behind it. Callers write into a temporary directory
 * (see atomic.ts), so a crash leaves nothing half-written at the final path.
 */
import { DTYPE_BYTES, type DType } from './safetensors.js';
import { StagedFile } from './staged-file.js';

type Bytes = Uint8Array | Uint16Array | Int32Array | Float32Array | Float64Array | Int8Array | Int16Array | BigInt64Array;

export class SafetensorsWriter {
  private readonly body: StagedFile;
  private readonly entries: Record<string, { dtype: DType; shape: number[]; data_offsets: [number, number] }> = {};

  constructor(readonly path: string) {
    this.body = new StagedFile(path);
  }

  /** Appends one tensor; `data` holds its elements in `dtype`'s little-endian encoding. */
  add(name: string, dtype: DType, shape: number[], data: Bytes): void {
    if (name in this.entries) throw new Error(`duplicate tensor ${name}`);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (bytes.byteLength !== expected) throw new Error(`tensor ${name}: ${bytes.byteLength} bytes for shape [${shape}] of ${dtype}`);
    const offset = this.body.length;
    this.body.append(bytes);
    this.entries[name] = { dtype, shape, data_offsets: [offset, offset + expected] };
  }

  /** Writes the final file (header + body) and removes the body file. */
  finish(metadata: Record<string, string> = {}): void {
    let json = JSON.stringify({ __metadata__: metadata, ...this.entries });
    json += ' '.repeat((8 - (json.length % 8)) % 8); // the spec allows space padding; keeps data 8-byte aligned
    const text = new TextEncoder().encode(json);
    const header = new Uint8Array(8 + text.length);
    new DataView(header.buffer).setBigUint64(0, BigInt(text.length), true);
    header.set(text, 8);
    this.body.finish(header);
  }
}
