/**
 * The GGUF container (ggml's docs/gguf.md, version 3), little-endian:
 *   magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
 *   metadata: (string key, u32 value type, value)*,
 *   tensor infos: (string name, u32 n_dims, u64 ne[n_dims] (ne[0] = row length), u32 ggml_type, u64 offset)*,
 *   padding to `general.alignment` (default 32), then the tensor data, each tensor at its offset.
 * Strings are u64 length + UTF-8 bytes; arrays are u32 element type + u64 count + elements.
 *
 * The reader trusts nothing: every count and length is checked against the bytes left in the
 * file before anything is allocated, tensor extents must lie inside the file and not overlap, so
 * a corrupt or hostile file fails with a one-line error naming it. The writer streams: the header
 * (all tensor infos) first, then each tensor's bytes in order, so memory holds one tensor.
 */
import fs from 'node:fs';
import { LowbitError, describeFsError } from '../util/errors.js';
import { openAndParse, readAt } from './read-at.js';
import { FLOAT_TYPES, GGML_TYPE_NAMES, blockTypeById } from '../quant/ggml/registry.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF"
export const GGUF_VERSION = 3;
export const DEFAULT_ALIGNMENT = 32;

/** gguf_type: the value types of metadata. */
export enum GgufValueType {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
}

/** A metadata value with its GGUF type (arrays carry their element type). */
export type GgufValue =
  | { type: GgufValueType.STRING; value: string }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: Exclude<GgufValueType, GgufValueType.STRING | GgufValueType.BOOL | GgufValueType.ARRAY>; value: number }
  | { type: GgufValueType.ARRAY; elementType: GgufValueType; value: (string | number | boolean)[] };

export interface GgufTensorInfo {
  name: string;
  /** ggml order: ne[0] is the row length (a [rows, cols] matrix is ne = [cols, rows]). */
  ne: number[];
  /** ggml_type id. */
  type: number;
  /** Byte offset from the start of the data section. */
  offset: number;
  byteLength: number;
}

const SCALAR_BYTES: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.U8]: 1, [GgufValueType.I8]: 1, [GgufValueType.U16]: 2, [GgufValueType.I16]: 2, [GgufValueType.U32]: 4,
  [GgufValueType.I32]: 4, [GgufValueType.F32]: 4, [GgufValueType.BOOL]: 1, [GgufValueType.U64]: 8, [GgufValueType.I64]: 8, [GgufValueType.F64]: 8,
};

/** Bytes of a tensor of ggml type `type` and shape ne, or an error message. */
export function tensorBytes(type: number, ne: number[]): number | string {
  const n = ne.reduce((a, b) => a * b, 1);
  const name = GGML_TYPE_NAMES[type];
  if (name && FLOAT_TYPES[name]) return n * FLOAT_TYPES[name].bytes;
  const bt = blockTypeById(type);
  if (!bt) return name ? `tensor type ${name} is not supported by lowbit` : `unknown tensor type ${type}`;
  if (ne[0] % bt.blockSize !== 0) return `row length ${ne[0]} is not a multiple of ${bt.name}'s block size ${bt.blockSize}`;
  return (n / bt.blockSize) * bt.blockBytes;
}

/** Reads a file's bytes on demand through a window, refusing to read past its end. */
class Cursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;

  constructor(private readonly fd: number, readonly size: number, private readonly file: string) {}

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.size) throw new LowbitError(`truncated or corrupt GGUF: ${what} runs past the end of the file`, this.file);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
    this.buf = Buffer.alloc(len);
    fs.readSync(this.fd, this.buf, 0, len, this.pos);
    this.bufStart = this.pos;
  }

  private at(n: number, what: string): number {
    this.need(n, what);
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  // (The offset is taken before `this.buf` is read: `at` may replace the window.)
  u32(what: string): number {
    const o = this.at(4, what);
    return this.buf.readUInt32LE(o);
  }

  u64(what: string): number {
    const o = this.at(8, what);
    const v = this.buf.readBigUInt64LE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LowbitError(`corrupt GGUF: ${what} is ${v}`, this.file);
    return Number(v);
  }

  scalar(t: GgufValueType, what: string): number | boolean {
    const o = this.at(SCALAR_BYTES[t]!, what), b = this.buf;
    switch (t) {
      case GgufValueType.U8: return b.readUInt8(o);
      case GgufValueType.I8: return b.readInt8(o);
      case GgufValueType.U16: return b.readUInt16LE(o);
      case GgufValueType.I16: return b.readInt16LE(o);
      case GgufValueType.U32: return b.readUInt32LE(o);
      case GgufValueType.I32: return b.readInt32LE(o);
      case GgufValueType.F32: return b.readFloatLE(o);
      case GgufValueType.BOOL: return b.readUInt8(o) !== 0;
      case GgufValueType.U64: return Number(b.readBigUInt64LE(o));
      case GgufValueType.I64: return Number(b.readBigInt64LE(o));
      case GgufValueType.F64: return b.readDoubleLE(o);
      default: throw new LowbitError(`corrupt GGUF: ${what} has value type ${t}`, this.file);
    }
  }

  string(what: string): string {
    const len = this.u64(`${what} length`);
    const o = this.at(len, what);
    return this.buf.toString('utf8', o, o + len);
  }
}

/**
 * A key or tensor name from the file as error messages show it: as it is when it is plain printable
 * text, else JSON-quoted (control characters escaped) and cut, so the error stays one readable line.
 */
function printable(name: string): string {
  return /^[\x20-\x7e]{0,80}$/.test(name) ? name : JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}...` : name);
}

export class GgufFile {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly version: number,
    readonly metadata: Map<string, GgufValue>,
    readonly tensors: Map<string, GgufTensorInfo>,
    /** Absolute position of the data section. */
    readonly dataStart: number,
  ) {}

  static open(path: string): GgufFile {
    return openAndParse(path, (fd) => GgufFile.parse(fd, path));
  }

  private static parse(fd: number, path: string): GgufFile {
    const size = fs.fstatSync(fd).size;
    const c = new Cursor(fd, size, path);
    if (size < 24 || c.u32('magic') !== GGUF_MAGIC) throw new LowbitError('not a GGUF file (bad magic)', path);
    const version = c.u32('version');
    if (version < 2 || version > 3) throw new LowbitError(`GGUF version ${version} is not supported (2 or 3)`, path);
    const nTensors = c.u64('tensor count'), nKv = c.u64('metadata count');
    // Every entry takes at least 8 (key/name length) + 4 bytes: a larger count cannot be real.
    if (nTensors > size / 12 || nKv > size / 12) throw new LowbitError(`corrupt GGUF: ${nTensors} tensors / ${nKv} metadata entries in ${size} bytes`, path);
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.string(`metadata key ${i}`);
      const keyShown = printable(key);
      if (metadata.has(key)) throw new LowbitError(`corrupt GGUF: duplicate metadata key ${keyShown}`, path);
      const type = c.u32(`type of ${keyShown}`);
      metadata.set(key, readValue(c, type, keyShown, path));
    }
    const alignment = metadata.get('general.alignment');
    const align = alignment ? Number(alignment.value) : DEFAULT_ALIGNMENT;
    if (!Number.isInteger(align) || align < 1 || align > 1 << 20 || (align & (align - 1)) !== 0) throw new LowbitError(`corrupt GGUF: general.alignment ${align} is not a power of two`, path);
    const tensors = new Map<string, GgufTensorInfo>();
    for (let i = 0; i < nTensors; i++) {
      const name = c.string(`tensor name ${i}`);
      const shown = printable(name);
      if (tensors.has(name)) throw new LowbitError(`corrupt GGUF: duplicate tensor ${shown}`, path);
      const nDims = c.u32(`dimension count of ${shown}`);
      if (nDims < 1 || nDims > 4) throw new LowbitError(`corrupt GGUF: tensor ${shown} has ${nDims} dimensions`, path);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(c.u64(`shape of ${shown}`));
      if (ne.reduce((a, b) => a * b, 1) > size * 8) throw new LowbitError(`corrupt GGUF: tensor ${shown} of shape [${ne}] cannot fit in the file`, path);
      const type = c.u32(`type of ${shown}`);
      const offset = c.u64(`offset of ${shown}`);
      const bytes = tensorBytes(type, ne);
      if (typeof bytes === 'string') throw new LowbitError(`tensor ${shown}: ${bytes}`, path);
      if (offset % align !== 0) throw new LowbitError(`corrupt GGUF: tensor ${shown} is not aligned to ${align}`, path);
      tensors.set(name, { name, ne, type, offset, byteLength: bytes });
    }
    const dataStart = Math.ceil(c.pos / align) * align;
    const extents = [...tensors.values()].sort((a, b) => a.offset - b.offset);
    let end = 0;
    for (const t of extents) {
      if (t.offset < end) throw new LowbitError(`corrupt GGUF: tensor ${t.name} overlaps the tensor before it`, path);
      end = t.offset + t.byteLength;
      if (dataStart + end > size) throw new LowbitError(`truncated GGUF: tensor ${t.name} ends at byte ${dataStart + end} but the file has ${size}`, path);
    }
    return new GgufFile(path, fd, version, metadata, tensors, dataStart);
  }

  /** A metadata value (undefined when absent). */
  get(key: string): GgufValue['value'] | undefined {
    return this.metadata.get(key)?.value;
  }

  info(name: string): GgufTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new LowbitError(`no tensor named ${name}`, this.path);
    return t;
  }

  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    return readAt(this.fd, t.byteLength, this.dataStart + t.offset, this.path, `tensor ${name}`);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

function readValue(c: Cursor, type: number, key: string, path: string): GgufValue {
  if (type === GgufValueType.STRING) return { type, value: c.string(key) };
  if (type === GgufValueType.ARRAY) {
    const elementType = c.u32(`element type of ${key}`);
    const count = c.u64(`length of ${key}`);
    const minBytes = elementType === GgufValueType.STRING ? 8 : SCALAR_BYTES[elementType as GgufValueType];
    if (minBytes === undefined) throw new LowbitError(`corrupt GGUF: ${key} is an array of unsupported type ${elementType}`, path);
    if (count * minBytes > c.size - c.pos) throw new LowbitError(`truncated or corrupt GGUF: array ${key} of ${count} elements runs past the end of the file`, path);
    const value: (string | number | boolean)[] = new Array(count);
    for (let i = 0; i < count; i++) value[i] = elementType === GgufValueType.STRING ? c.string(key) : c.scalar(elementType, key);
    return { type, elementType, value };
  }
  if (SCALAR_BYTES[type as GgufValueType] === undefined) throw new LowbitError(`corrupt GGUF: ${key} has unknown value type ${type}`, path);
  const v = c.scalar(type, key);
  return (type === GgufValueType.BOOL ? { type, value: v as boolean } : { type, value: v as number }) as GgufValue;
}

/**
 * Streaming GGUF writer. Tensors are appended one at a time, in any order, to a body file beside
 * the target (memory holds one tensor; their offsets are known only as they come); `finish`
 * writes the header (metadata and tensor infos), then copies the body behind it. Callers write to
 * a temporary path (atomic.ts), so a failure leaves nothing half-written at the final path.
 */
export class GgufWriter {
  private readonly bodyPath: string;
  private fd: number;
  private offset = 0;
  private readonly infos: GgufTensorInfo[] = [];
  private readonly names = new Set<string>();

  constructor(readonly path: string, readonly alignment = DEFAULT_ALIGNMENT) {
    this.bodyPath = `${path}.body`;
    try {
      this.fd = fs.openSync(this.bodyPath, 'w');
    } catch (e) {
      throw new LowbitError(`cannot write: ${describeFsError(e)}`, path);
    }
  }

  /** Appends a tensor of ggml type `type` and ggml shape `ne` (ne[0] = row length). */
  add(name: string, type: number, ne: number[], bytes: Uint8Array): void {
    if (this.names.has(name)) throw new Error(`GGUF writer: duplicate tensor ${name}`);
    const expected = tensorBytes(type, ne);
    if (expected !== bytes.byteLength) throw new Error(`GGUF writer: tensor ${name} has ${bytes.byteLength} bytes, its type and shape need ${expected}`);
    this.names.add(name);
    this.infos.push({ name, ne, type, offset: this.offset, byteLength: bytes.byteLength });
    writeAll(this.fd, bytes, this.path);
    const pad = (this.alignment - (bytes.byteLength % this.alignment)) % this.alignment;
    if (pad) writeAll(this.fd, new Uint8Array(pad), this.path);
    this.offset += bytes.byteLength + pad;
  }

  /** Writes the final file: header with `metadata` and the tensor infos, then the body. */
  finish(metadata: [string, GgufValue][]): void {
    fs.closeSync(this.fd);
    const parts: Buffer[] = [];
    const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
    const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
    const str = (s: string) => { const b = Buffer.from(s, 'utf8'); u64(b.length); parts.push(b); };
    const all: [string, GgufValue][] = this.alignment === DEFAULT_ALIGNMENT ? metadata : [...metadata, ['general.alignment', { type: GgufValueType.U32, value: this.alignment }]];
    u32(GGUF_MAGIC);
    u32(GGUF_VERSION);
    u64(this.infos.length);
    u64(all.length);
    for (const [key, v] of all) {
      str(key);
      u32(v.type);
      if (v.type === GgufValueType.ARRAY) {
        u32(v.elementType);
        u64(v.value.length);
        for (const e of v.value) writeScalar(parts, v.elementType, e, str);
      } else writeScalar(parts, v.type, v.value, str);
    }
    for (const t of this.infos) {
      str(t.name);
      u32(t.ne.length);
      for (const d of t.ne) u64(d);
      u32(t.type);
      u64(t.offset);
    }
    const header = Buffer.concat(parts);
    const out = fs.openSync(this.path, 'w');
    try {
      writeAll(out, header, this.path);
      writeAll(out, new Uint8Array((this.alignment - (header.length % this.alignment)) % this.alignment), this.path);
      const body = fs.openSync(this.bodyPath, 'r');
      const chunk = Buffer.alloc(1 << 24);
      for (let pos = 0; pos < this.offset; ) {
        const n = fs.readSync(body, chunk, 0, Math.min(chunk.length, this.offset - pos), pos);
        writeAll(out, chunk.subarray(0, n), this.path);
        pos += n;
      }
      fs.closeSync(body);
    } finally {
      fs.closeSync(out);
    }
    fs.rmSync(this.bodyPath);
  }

  /** Closes and removes the body file (on errors). */
  abort(): void {
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
    fs.rmSync(this.bodyPath, { force: true });
  }
}

function writeAll(fd: number, bytes: Uint8Array, file: string): void {
  try {
    for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
  } catch (e) {
    throw new LowbitError(`cannot write: ${describeFsError(e)}`, file);
  }
}

function writeScalar(parts: Buffer[], t: GgufValueType, v: string | number | boolean, str: (s: string) => void): void {
  if (t === GgufValueType.STRING) return str(v as string);
  const b = Buffer.alloc(SCALAR_BYTES[t]!);
  switch (t) {
    case GgufValueType.U8: b.writeUInt8(v as number); break;
    case GgufValueType.I8: b.writeInt8(v as number); break;
    case GgufValueType.U16: b.writeUInt16LE(v as number); break;
    case GgufValueType.I16: b.writeInt16LE(v as number); break;
    case GgufValueType.U32: b.writeUInt32LE(v as number); break;
    case GgufValueType.I32: b.writeInt32LE(v as number); break;
    case GgufValueType.F32: b.writeFloatLE(v as number); break;
    case GgufValueType.BOOL: b.writeUInt8(v ? 1 : 0); break;
    case GgufValueType.U64: b.writeBigUInt64LE(BigInt(v as number)); break;
    case GgufValueType.I64: b.writeBigInt64LE(BigInt(v as number)); break;
    case GgufValueType.F64: b.writeDoubleLE(v as number); break;
  }
  parts.push(b);
}

/** Shorthands for building metadata. */
export const gv = {
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  u32: (value: number): GgufValue => ({ type: GgufValueType.U32, value }),
  i32: (value: number): GgufValue => ({ type: GgufValueType.I32, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.F32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  strs: (value: string[]): GgufValue => ({ type: GgufValueType.ARRAY, elementType: GgufValueType.STRING, value }),
  i32s: (value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, elementType: GgufValueType.I32, value }),
  f32s: (value: number[]): GgufValue => ({ type: GgufValueType.ARRAY, elementType: GgufValueType.F32, value }),
};
