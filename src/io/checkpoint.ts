/**
 * A Hugging Face checkpoint's tensors, single-file (model.safetensors) or sharded
 * (model.safetensors.index.json + shards). All headers are validated when it is opened; tensors
 * are read one at a time.
 */
import { LowbitError } from '../util/errors.js';
import { exists, files, joinPath } from './host.js';
import { SafetensorsFile, bytesToF32, type TensorInfo } from './safetensors.js';
import type { PackedTensor, TensorSource } from './tensor-source.js';
import type { Scratch } from './scratch.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

export class Checkpoint implements TensorSource {
  readonly dir: string;
  private readonly files: SafetensorsFile[];
  private readonly owner = new Map<string, SafetensorsFile>();

  private constructor(dir: string, files: SafetensorsFile[], owner: Map<string, SafetensorsFile>) {
    this.dir = dir;
    this.files = files;
    this.owner = owner;
  }

  static open(dir: string): Checkpoint {
    const index = joinPath(dir, INDEX_FILE);
    const single = joinPath(dir, SINGLE_FILE);
    if (exists(index)) return Checkpoint.openSharded(dir, index);
    if (!exists(single)) {
      if (!exists(dir)) throw new LowbitError('no such model directory', dir);
      throw new LowbitError(`no ${SINGLE_FILE} or ${INDEX_FILE} in the model directory`, dir);
    }
    const file = SafetensorsFile.open(single);
    return new Checkpoint(dir, [file], new Map([...file.tensors.keys()].map((n) => [n, file])));
  }

  private static openSharded(dir: string, index: string): Checkpoint {
    let weightMap: Record<string, string>;
    try {
      const parsed = JSON.parse(files().readText(index));
      weightMap = parsed.weight_map;
      if (typeof weightMap !== 'object' || weightMap === null) throw new Error('no weight_map');
    } catch (e) {
      throw new LowbitError(`invalid shard index: ${(e as Error).message}`, index);
    }
    const shards = new Map<string, SafetensorsFile>();
    const owner = new Map<string, SafetensorsFile>();
    try {
      for (const [name, shard] of Object.entries(weightMap)) {
        let file = shards.get(shard);
        if (!file) {
          file = SafetensorsFile.open(joinPath(dir, shard));
          shards.set(shard, file);
        }
        if (!file.tensors.has(name)) throw new LowbitError(`${INDEX_FILE} places tensor ${name} here but the file has no such tensor`, file.path);
        owner.set(name, file);
      }
    } catch (e) {
      for (const f of shards.values()) f.close();
      throw e;
    }
    return new Checkpoint(dir, [...shards.values()], owner);
  }

  names(): string[] {
    return [...this.owner.keys()];
  }

  /**
   * Replaces a stored 2-D tensor by tensors of consecutive ranges of its rows (a fused matrix read as
   * its parts, e.g. Phi-3's qkv_proj as q_proj, k_proj, v_proj). Rows are contiguous bytes, so each
   * part is read straight from its byte range: nothing is copied or held.
   */
  splitRows(fused: string, parts: { name: string; rows: number }[]): void {
    const file = this.file(fused), t = file.info(fused);
    const total = parts.reduce((s, p) => s + p.rows, 0);
    if (t.shape.length !== 2 || total !== t.shape[0])
      throw new LowbitError(`tensor ${fused} has shape [${t.shape.join(', ')}] but its parts need ${total} rows`, t.file);
    const rowBytes = t.byteLength / t.shape[0];
    let row = 0;
    for (const p of parts) {
      if (this.owner.has(p.name)) throw new LowbitError(`tensor ${p.name} is stored and is also a part of ${fused}`, t.file);
      file.tensors.set(p.name, { ...t, name: p.name, shape: [p.rows, t.shape[1]], offset: t.offset + row * rowBytes, byteLength: p.rows * rowBytes });
      this.owner.set(p.name, file);
      row += p.rows;
    }
    this.owner.delete(fused);
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  shape(name: string): number[] {
    return this.info(name).shape;
  }

  fileOf(name: string): string {
    return this.file(name).path;
  }

  readF32(name: string, scratch?: Scratch): Float32Array {
    return this.file(name).readF32(name, scratch);
  }

  readBytes(name: string): Uint8Array {
    return this.file(name).readBytes(name);
  }

  /**
   * A bf16/f16 matrix kept in its 2 bytes per weight and widened to f32 when a forward pass needs it,
   * so a checkpoint evaluates in about its own size (a 7B bf16 model in ~14 GB, not 27 GB of f32);
   * null for f32 and other tensors (nothing to save).
   */
  readPacked(name: string): PackedTensor | null {
    const t = this.info(name);
    if (t.shape.length !== 2 || (t.dtype !== 'BF16' && t.dtype !== 'F16')) return null;
    const bytes = this.readBytes(name);
    return {
      shape: t.shape, byteLength: bytes.byteLength, decode: () => bytesToF32(bytes, t.dtype, `tensor ${name}`, t.file),
      half: { format: t.dtype === 'BF16' ? 'bf16' : 'f16', bits: new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) },
    };
  }

  /** Total bytes of tensor data. */
  totalBytes(): number {
    let n = 0;
    for (const name of this.owner.keys()) n += this.info(name).byteLength;
    return n;
  }

  close(): void {
    for (const f of this.files) f.close();
  }

  private file(name: string): SafetensorsFile {
    const f = this.owner.get(name);
    if (!f) throw new LowbitError(`checkpoint has no tensor ${name}`, this.dir);
    return f;
  }
}
