/**
 * Reader of the safetensors format (https://huggingface.co/docs/safetensors):
 *   [u64 little-endian header length N][N bytes of JSON header][tensor bytes]
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} relative to the
 * start of the byte buffer. The reader validates the whole header up front (so a corrupt file
 * fails before any work starts) and reads one tensor at a time with positioned reads: memory
 * stays bounded by the largest tensor, never the file.
 */
import { LowbitError } from '../util/errors.js';
import { bf16ToF32, f16ToF32 } from './float.js';
import { openAndParse, readAt } from './read-at.js';
import type { ReadableFile } from './host.js';
import type { Scratch } from './scratch.js';

/** Element types lowbit reads and writes, with their byte sizes. */
export const DTYPE_BYTES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
} as const;
export type DType = keyof typeof DTYPE_BYTES;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte position of the tensor's data in `file`. */
  offset: number;
  byteLength: number;
  file: string;
}

/** Largest header the reader accepts (the format's reference implementation uses 100 MB). */
const MAX_HEADER = 100_000_000;

export class SafetensorsFile {
  readonly path: string;
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  private file: ReadableFile;

  private constructor(path: string, file: ReadableFile, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.path = path;
    this.file = file;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Opens and validates `path`; throws a LowbitError naming the file on any problem. */
  static open(path: string): SafetensorsFile {
    return openAndParse(path, (file) => {
      const { tensors, metadata } = parseHeader(file, path);
      return new SafetensorsFile(path, file, tensors, metadata);
    });
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new LowbitError(`no tensor named ${name}`, this.path);
    return t;
  }

  /** The tensor's raw little-endian bytes. */
  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    return readAt(this.file, t.byteLength, t.offset, this.path, `tensor ${name}`);
  }

  /**
   * The tensor converted to f32 (from F32, F16, BF16 or F64); with `scratch`, read and widened in
   * its reused buffers (an F32 tensor is read straight into the output).
   */
  readF32(name: string, scratch?: Scratch): Float32Array {
    const t = this.info(name);
    if (!scratch || !(t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16')) return bytesToF32(this.readBytes(name), t.dtype, `tensor ${name}`, this.path);
    const n = t.byteLength / DTYPE_BYTES[t.dtype], out = scratch.f32('tensor', n);
    const raw = t.dtype === 'F32' ? new Uint8Array(out.buffer, 0, t.byteLength) : scratch.bytes('raw', t.byteLength);
    readAt(this.file, t.byteLength, t.offset, this.path, `tensor ${name}`, raw);
    return t.dtype === 'F32' ? out : bytesToF32(raw, t.dtype, `tensor ${name}`, this.path, out);
  }

  close(): void {
    this.file.close();
  }
}

/** Converts raw tensor bytes of a float dtype to f32. */
export function bytesToF32(bytes: Uint8Array, dtype: DType, what: string, file: string, out?: Float32Array): Float32Array {
  // Copy into a fresh, aligned buffer so typed views are always legal.
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const n = aligned.byteLength / DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'F32':
      // A fresh, exclusively owned buffer (as readBytes returns) is viewed in place, not copied.
      return aligned.byteOffset === 0 && aligned.buffer.byteLength === aligned.byteLength
        ? new Float32Array(aligned.buffer, 0, n)
        : new Float32Array(aligned.buffer, aligned.byteOffset, n).slice();
    case 'F16':
      return f16ToF32(new Uint16Array(aligned.buffer, aligned.byteOffset, n), out);
    case 'BF16':
      return bf16ToF32(new Uint16Array(aligned.buffer, aligned.byteOffset, n), out);
    case 'F64':
      return Float32Array.from(new Float64Array(aligned.buffer, aligned.byteOffset, n));
    default:
      throw new LowbitError(`${what} has dtype ${dtype}, expected a float type (F32, F16, BF16)`, file);
  }
}

/**
 * Index of the first NaN/Inf among raw float tensor bytes, or -1; checks the exponent bits
 * directly, so no f32 copy is made. Non-float dtypes have none.
 */
export function firstNonFinite(bytes: Uint8Array, dtype: DType): number {
  const b = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  if (dtype === 'F32') {
    const u = new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    for (let i = 0; i < u.length; i++) if ((u[i] & 0x7f800000) === 0x7f800000) return i;
  } else if (dtype === 'BF16' || dtype === 'F16') {
    // Two values a word. A value's exponent bits are all ones (Inf/NaN) exactly when adding the
    // exponent's lowest bit to them carries into bit 15 of its half: one test covers both halves
    // (a 7B block's weights are checked in a fraction of a second).
    const mask = dtype === 'BF16' ? 0x7f80 : 0x7c00, both = mask * 0x10001, carry = (mask & -mask) * 0x10001;
    const u = new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
    const words = new Uint32Array(b.buffer, b.byteOffset, u.length >>> 1);
    for (let i = 0; i < words.length; i++) {
      if ((((words[i] & both) + carry) & 0x80008000) !== 0) return (u[2 * i] & mask) === mask ? 2 * i : 2 * i + 1;
    }
    if (u.length % 2 === 1 && (u[u.length - 1] & mask) === mask) return u.length - 1;
  } else if (dtype === 'F64') {
    const f = new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    for (let i = 0; i < f.length; i++) if (!Number.isFinite(f[i])) return i;
  }
  return -1;
}

function parseHeader(file: ReadableFile, path: string): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const size = file.size;
  if (size < 8) throw new LowbitError(`not a safetensors file: ${size} bytes, too short for a header`, path);
  const lenBuf = readAt(file, 8, 0, path, 'the header length');
  const headerLen = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
  if (headerLen > MAX_HEADER || headerLen > size - 8)
    throw new LowbitError(`corrupt safetensors header: header length ${headerLen} exceeds the file size ${size}`, path);
  const headerBuf = readAt(file, headerLen, 8, path, 'the header');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(headerBuf));
  } catch {
    throw new LowbitError('corrupt safetensors header: not valid JSON', path);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new LowbitError('corrupt safetensors header: not a JSON object', path);
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry !== 'object' || entry === null) throw new LowbitError(`corrupt safetensors header: entry ${name} is not an object`, path);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') throw new LowbitError(`corrupt safetensors header: tensor ${name} has no dtype`, path);
    if (!(dtype in DTYPE_BYTES)) throw new LowbitError(`tensor ${name} has unsupported dtype ${dtype}`, path);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new LowbitError(`corrupt safetensors header: tensor ${name} has an invalid shape`, path);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0) || offsets[0] > offsets[1])
      throw new LowbitError(`corrupt safetensors header: tensor ${name} has invalid data_offsets`, path);
    const [begin, end] = offsets as [number, number];
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype as DType];
    if (end - begin !== expected)
      throw new LowbitError(`tensor ${name} has ${end - begin} bytes but its shape [${shape.join(', ')}] of ${dtype} needs ${expected}`, path);
    if (end > dataLen)
      throw new LowbitError(`truncated: tensor ${name} ends at byte ${dataStart + end} but the file has ${size} bytes`, path);
    tensors.set(name, { name, dtype: dtype as DType, shape: shape as number[], offset: dataStart + begin, byteLength: expected, file: path });
  }
  return { tensors, metadata };
}
