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
import { LowbitError } from '../util/errors.js';
import type { ReadableFile } from './host.js';
import { StagedFile } from './staged-file.js';
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
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  private static readonly utf8 = new TextDecoder();

  constructor(private readonly source: ReadableFile, readonly size: number, private readonly file: string) {}

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.size) throw new LowbitError(`truncated or corrupt GGUF: ${what} runs past the end of the file`, this.file);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
    this.buf = readAt(this.source, len, this.pos, this.file, what);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
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
    return this.view.getUint32(o, true);
  }

  u64(what: string): number {
    const o = this.at(8, what);
    const v = this.view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new LowbitError(`corrupt GGUF: ${what} is ${v}`, this.file);
    return Number(v);
  }

  scalar(t: GgufValueType, what: string): number | boolean {
    const o = this.at(SCALAR_BYTES[t]!, what), b = this.view;
    switch (t) {
      case GgufValueType.U8: return b.getUint8(o);
      case GgufValueType.I8: return b.getInt8(o);
      case GgufValueType.U16: return b.getUint16(o, true);
      case GgufValueType.I16: return b.getInt16(o, true);
      case GgufValueType.U32: return b.getUint32(o, true);
      case GgufValueType.I32: return b.getInt32(o, true);
      case GgufValueType.F32: return b.getFloat32(o, true);
      case GgufValueType.BOOL: return b.getUint8(o) !== 0;
      case GgufValueType.U64: return Number(b.getBigUint64(o, true));
      case GgufValueType.I64: return Number(b.getBigInt64(o, true));
      case GgufValueType.F64: return b.getFloat64(o, true);
      default: throw new LowbitError(`corrupt GGUF: ${what} has value type ${t}`, this.file);
    }
  }

  string(what: string): string {
    const len = this.u64(`${what} length`);
    const o = this.at(len, what);
    return Cursor.utf8.decode(this.buf.subarray(o, o + len));
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
    private readonly source: ReadableFile,
    readonly version: number,
    readonly metadata: Map<string, GgufValue>,
    readonly tensors: Map<string, GgufTensorInfo>,
    /** Absolute position of the data section. */
    readonly dataStart: number,
  ) {}

  static open(path: string): GgufFile {
    return openAndParse(path, (file) => GgufFile.parse(file, path));
  }

  private static parse(file: ReadableFile, path: string): GgufFile {
    const size = file.size;
    const c = new Cursor(file, size, path);
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
    return new GgufFile(path, file, version, metadata, tensors, dataStart);
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
    return readAt(this.source, t.byteLength, this.dataStart + t.offset, this.path, `tensor ${name}`);
  }

  close(): void {
    this.source.close();
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
  private readonly body: StagedFile;
  private readonly infos: GgufTensorInfo[] = [];
  private readonly names = new Set<string>();

  constructor(readonly path: string, readonly alignment = DEFAULT_ALIGNMENT) {
    this.body = new StagedFile(path);
  }

  /** Appends a tensor of ggml type `type` and ggml shape `ne` (ne[0] = row length). */
  add(name: string, type: number, ne: number[], bytes: Uint8Array): void {
    if (this.names.has(name)) throw new Error(`GGUF writer: duplicate tensor ${name}`);
    const expected = tensorBytes(type, ne);
    if (expected !== bytes.byteLength) throw new Error(`GGUF writer: tensor ${name} has ${bytes.byteLength} bytes, its type and shape need ${expected}`);
    this.names.add(name);
    this.infos.push({ name, ne, type, offset: this.body.length, byteLength: bytes.byteLength });
    this.body.append(bytes);
    const pad = (this.alignment - (bytes.byteLength % this.alignment)) % this.alignment;
    if (pad) this.body.append(new Uint8Array(pad));
  }

  /** Writes the final file: header with `metadata` and the tensor infos, then the body. */
  finish(metadata: [string, GgufValue][]): void {
    const w = new ByteWriter();
    const all: [string, GgufValue][] = this.alignment === DEFAULT_ALIGNMENT ? metadata : [...metadata, ['general.alignment', { type: GgufValueType.U32, value: this.alignment }]];
    w.u32(GGUF_MAGIC);
    w.u32(GGUF_VERSION);
    w.u64(this.infos.length);
    w.u64(all.length);
    for (const [key, v] of all) {
      w.str(key);
      w.u32(v.type);
      if (v.type === GgufValueType.ARRAY) {
        w.u32(v.elementType);
        w.u64(v.value.length);
        for (const e of v.value) w.scalar(v.elementType, e);
      } else w.scalar(v.type, v.value);
    }
    for (const t of this.infos) {
      w.str(t.name);
      w.u32(t.ne.length);
      for (const d of t.ne) w.u64(d);
      w.u32(t.type);
      w.u64(t.offset);
    }
    w.pad(this.alignment);
    this.body.finish(w.bytes());
  }

  /** Closes and removes the body file (on errors). */
  abort(): void {
    this.body.abort();
  }
}

/** Little-endian bytes of GGUF's header, appended. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  private length = 0;
  private static readonly utf8 = new TextEncoder();

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // room() may replace the buffer: the offset is taken before the view is read.
  u32(v: number): void { const o = this.room(4); this.view.setUint32(o, v, true); }
  u64(v: number): void { const o = this.room(8); this.view.setBigUint64(o, BigInt(v), true); }
  str(s: string): void {
    const b = ByteWriter.utf8.encode(s);
    this.u64(b.length);
    const o = this.room(b.length);
    this.buf.set(b, o);
  }

  scalar(t: GgufValueType, v: string | number | boolean): void {
    if (t === GgufValueType.STRING) return this.str(v as string);
    const o = this.room(SCALAR_BYTES[t]!);
    const d = this.view;
    switch (t) {
      case GgufValueType.U8: d.setUint8(o, v as number); break;
      case GgufValueType.I8: d.setInt8(o, v as number); break;
      case GgufValueType.U16: d.setUint16(o, v as number, true); break;
      case GgufValueType.I16: d.setInt16(o, v as number, true); break;
      case GgufValueType.U32: d.setUint32(o, v as number, true); break;
      case GgufValueType.I32: d.setInt32(o, v as number, true); break;
      case GgufValueType.F32: d.setFloat32(o, v as number, true); break;
      case GgufValueType.BOOL: d.setUint8(o, v ? 1 : 0); break;
      case GgufValueType.U64: d.setBigUint64(o, BigInt(v as number), true); break;
      case GgufValueType.I64: d.setBigInt64(o, BigInt(v as number), true); break;
      case GgufValueType.F64: d.setFloat64(o, v as number, true); break;
    }
  }

  /** Zeros up to a multiple of `alignment` bytes. */
  pad(alignment: number): void {
    this.room((alignment - (this.length % alignment)) % alignment);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
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
