/**
 * Streaming safetensors writer. Tensors are appended one at a time to a body file beside the
 * target (so memory holds one tensor, and the header need not be known in advance); `finish`
 * writes the header, then copies the body behind it. Callers write into a temporary directory
 * (see atomic.ts), so a crash leaves nothing half-written at the final path.
 */
import fs from 'node:fs';
import { LowbitError, describeFsError } from '../util/errors.js';
import { DTYPE_BYTES, type DType } from './safetensors.js';

type Bytes = Uint8Array | Uint16Array | Int32Array | Float32Array | Float64Array | Int8Array | Int16Array | BigInt64Array;

export class SafetensorsWriter {
  readonly path: string;
  private readonly bodyPath: string;
  private fd: number;
  private offset = 0;
  private readonly entries: Record<string, { dtype: DType; shape: number[]; data_offsets: [number, number] }> = {};

  constructor(path: string) {
    this.path = path;
    this.bodyPath = `${path}.body`;
    try {
      this.fd = fs.openSync(this.bodyPath, 'w');
    } catch (e) {
      throw new LowbitError(`cannot write: ${describeFsError(e)}`, path);
    }
  }

  /** Appends one tensor; `data` holds its elements in `dtype`'s little-endian encoding. */
  add(name: string, dtype: DType, shape: number[], data: Bytes): void {
    if (name in this.entries) throw new Error(`duplicate tensor ${name}`);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (bytes.byteLength !== expected) throw new Error(`tensor ${name}: ${bytes.byteLength} bytes for shape [${shape}] of ${dtype}`);
    this.writeAll(this.fd, bytes);
    this.entries[name] = { dtype, shape, data_offsets: [this.offset, this.offset + expected] };
    this.offset += expected;
  }

  /** Writes the final file (header + body) and removes the body file. */
  finish(metadata: Record<string, string> = {}): void {
    fs.closeSync(this.fd);
    let json = JSON.stringify({ __metadata__: metadata, ...this.entries });
    json += ' '.repeat((8 - (json.length % 8)) % 8); // the spec allows space padding; keeps data 8-byte aligned
    const header = Buffer.from(json, 'utf8');
    const out = fs.openSync(this.path, 'w');
    try {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(header.length));
      this.writeAll(out, len);
      this.writeAll(out, header);
      const body = fs.openSync(this.bodyPath, 'r');
      const chunk = Buffer.alloc(1 << 24);
      for (let pos = 0; pos < this.offset; ) {
        const n = fs.readSync(body, chunk, 0, Math.min(chunk.length, this.offset - pos), pos);
        this.writeAll(out, chunk.subarray(0, n));
        pos += n;
      }
      fs.closeSync(body);
    } finally {
      fs.closeSync(out);
    }
    fs.rmSync(this.bodyPath);
  }

  private writeAll(fd: number, bytes: Uint8Array): void {
    try {
      for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
    } catch (e) {
      throw new LowbitError(`cannot write: ${describeFsError(e)}`, this.path);
    }
  }
}
