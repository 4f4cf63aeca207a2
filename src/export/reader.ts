/**
 * Opens a model directory, original or quantized, as a TensorSource of dense f32 weights. For a
 * quantized directory (one with lowbit.json) the weight of every quantized layer is decoded from
 * its saved tensors through the format registry; everything else is read as stored.
 */
import type { Checkpoint } from '../io/checkpoint.js';
import { readJson } from '../io/read-at.js';
import { exists, files, joinPath } from '../io/host.js';
import { openModelCheckpoint } from '../arch/checkpoint.js';
import type { PackedTensor, TensorSource } from '../io/tensor-source.js';
import { loadConfig, type ModelConfig } from '../arch/config.js';
import { FORMATS } from '../quant/registry.js';
import type { StoredTensor, TypedData } from '../quant/types.js';
import { LowbitError } from '../util/errors.js';
import { MANIFEST_FILE, MANIFEST_FORMAT_VERSION, type LayerEntry, type LowbitManifest } from './manifest.js';
import { loadTokenizer, type TextTokenizer } from '../io/tokenizer.js';
import { unpackBits } from '../io/bitpack.js';
import { isGgufFile, openGgufModel, type GgufSummary } from './gguf/reader.js';

export interface ModelDir {
  /** The model directory, or the GGUF file. */
  dir: string;
  config: ModelConfig;
  source: TensorSource;
  /** Present when the directory is a lowbit-quantized model. */
  manifest: LowbitManifest | null;
  /** For a GGUF file: its format details (types, bits per weight, lowbit's keys). */
  gguf?: GgufSummary;
  /** The model's tokenizer (tokenizer.json, or the GGUF file's own). */
  tokenizer(): TextTokenizer;
  close(): void;
}

/** Opens a model: a Hugging Face or lowbit directory, or a GGUF file (gguf/reader.ts). */
export function openModelDir(dir: string): ModelDir {
  const stat = files().stat(dir);
  if (!stat) throw new LowbitError('no such model directory', dir);
  if (stat.kind === 'file' && isGgufFile(dir)) return openGgufModel(dir);
  if (stat.kind !== 'directory') throw new LowbitError('not a directory or GGUF file (expected a model directory)', dir);
  const config = loadConfig(dir);
  const manifestFile = joinPath(dir, MANIFEST_FILE);
  const manifest = exists(manifestFile) ? validateManifest(readJson(manifestFile), manifestFile) : null;
  const ckpt = openModelCheckpoint(dir, config);
  const source = manifest ? new QuantizedSource(ckpt, manifest) : ckpt;
  return { dir, config, source, manifest, tokenizer: () => loadTokenizer(dir), close: () => ckpt.close() };
}

/** Checks every field lowbit reads from lowbit.json (it may come from anywhere), with one-line errors. */
function validateManifest(raw: unknown, file: string): LowbitManifest {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  const fail = (problem: string): never => { throw new LowbitError(`invalid lowbit.json: ${problem}`, file); };
  if (!isObject(raw) || !isObject(raw.layers) || !isObject(raw.lowbit)) throw new LowbitError('not a lowbit manifest (missing "lowbit" or "layers")', file);
  const version = raw.lowbit.formatVersion;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) fail(`formatVersion ${JSON.stringify(version)} is not a version number`);
  if ((version as number) > MANIFEST_FORMAT_VERSION)
    throw new LowbitError(`format version ${version} is newer than this lowbit understands (${MANIFEST_FORMAT_VERSION})`, file);
  if (typeof raw.method !== 'string') fail('"method" is not a string');
  if (!isObject(raw.summary) || typeof raw.summary.bitsPerWeight !== 'number') fail('"summary" has no bitsPerWeight');
  const dim = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x > 0 && x <= 1 << 24;
  for (const [layer, e] of Object.entries(raw.layers)) {
    if (!isObject(e)) fail(`layer ${layer} is not an object`);
    const entry = e as Record<string, unknown>;
    if (typeof entry.format !== 'string' || !FORMATS[entry.format]) fail(`layer ${layer} uses unknown format ${JSON.stringify(entry.format)}`);
    if (!dim(entry.rows) || !dim(entry.cols)) fail(`layer ${layer} has an invalid shape ${JSON.stringify([entry.rows, entry.cols])}`);
    if (!isObject(entry.params)) fail(`layer ${layer} has no params`);
    if (entry.packed !== undefined) {
      if (!isObject(entry.packed)) fail(`layer ${layer}: "packed" is not an object`);
      for (const [suffix, pk] of Object.entries(entry.packed as Record<string, unknown>))
        if (!isObject(pk) || !(pk.dtype === 'U8' || pk.dtype === 'I32') || !Array.isArray(pk.shape) || !pk.shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) || typeof pk.width !== 'number')
          fail(`layer ${layer}: packed tensor ${suffix} is not described by width, dtype and shape`);
    }
  }
  if (raw.runtime !== undefined && raw.runtime !== null) {
    const rt = raw.runtime;
    if (!isObject(rt)) fail('"runtime" is not an object');
    const act = (rt as Record<string, unknown>).activation, rot = (rt as Record<string, unknown>).rotation;
    if (act != null && (!isObject(act) || typeof act.bits !== 'number' || !(act.bits >= 2 && act.bits <= 16) || typeof act.clipRatio !== 'number' || !(act.clipRatio > 0 && act.clipRatio <= 1)))
      fail('runtime.activation needs bits (2-16) and clipRatio (0-1]');
    if (rot != null && (!isObject(rot) || typeof rot.seed !== 'number')) fail('runtime.rotation needs a seed');
  }
  return raw as unknown as LowbitManifest;
}

/** Views raw little-endian bytes as the typed array of their dtype. */
function typed(bytes: Uint8Array, dtype: string): TypedData {
  const b = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'U8': return b;
    case 'F16': case 'BF16': return new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
    case 'I32': return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    case 'F32': return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    default: throw new Error(`unexpected dtype ${dtype} in a quantized layer`);
  }
}

/**
 * The saved tensors of quantized layer `layer` as its format reads them (bit-packed ones unpacked
 * to their original dtype and shape; the layer's bias is not one of them).
 */
export function layerTensors(ckpt: Checkpoint, layer: string, e: LayerEntry): Record<string, StoredTensor> {
  return unpackLayer(storedLayer(ckpt, layer, e), layer, e, ckpt.dir);
}

/** The layer's tensors exactly as stored (bit-packed ones still packed). */
function storedLayer(ckpt: Checkpoint, layer: string, e: LayerEntry): Record<string, StoredTensor> {
  const tensors: Record<string, StoredTensor> = {};
  const prefix = `${layer}.`;
  for (const t of ckpt.names()) {
    if (!t.startsWith(prefix)) continue;
    const suffix = t.slice(prefix.length);
    if (suffix.includes('.') || suffix === 'bias' || suffix === 'weight') continue;
    const info = ckpt.info(t);
    tensors[suffix] = { dtype: info.dtype, shape: info.shape, data: e.packed?.[suffix] ? ckpt.readBytes(t) : typed(ckpt.readBytes(t), info.dtype) };
  }
  return tensors;
}

/** Unpacks the bit-packed tensors of a stored layer to the dtype and shape its format reads. */
function unpackLayer(stored: Record<string, StoredTensor>, layer: string, e: LayerEntry, file: string): Record<string, StoredTensor> {
  const tensors: Record<string, StoredTensor> = {};
  for (const [suffix, t] of Object.entries(stored)) {
    const packed = e.packed?.[suffix];
    if (!packed) {
      tensors[suffix] = t;
      continue;
    }
    const count = packed.shape.reduce((a, b) => a * b, 1), bytes = t.data as Uint8Array;
    if (!(packed.width >= 1 && packed.width <= 32) || !Number.isSafeInteger(count) || count * packed.width > bytes.length * 8)
      throw new LowbitError(`layer ${layer}: packed tensor ${suffix} does not hold ${count} values of ${packed.width} bits`, file);
    const out = packed.dtype === 'U8' ? new Uint8Array(count) : new Int32Array(count);
    tensors[suffix] = { dtype: packed.dtype, shape: packed.shape, data: unpackBits(bytes, packed.width, count, out) };
  }
  return tensors;
}

class QuantizedSource implements TensorSource {
  readonly dir: string;
  private readonly quantized = new Map<string, string>(); // "<layer>.weight" -> layer

  constructor(private readonly ckpt: Checkpoint, private readonly manifest: LowbitManifest) {
    this.dir = ckpt.dir;
    for (const layer of Object.keys(manifest.layers)) this.quantized.set(`${layer}.weight`, layer);
  }

  has(name: string): boolean {
    return this.quantized.has(name) || this.ckpt.has(name);
  }

  shape(name: string): number[] {
    const layer = this.quantized.get(name);
    if (!layer) return this.ckpt.shape(name);
    const e = this.manifest.layers[layer];
    return [e.rows, e.cols];
  }

  fileOf(name: string): string {
    const layer = this.quantized.get(name);
    return layer ? this.ckpt.fileOf(this.firstTensorOf(layer)) : this.ckpt.fileOf(name);
  }

  readF32(name: string): Float32Array {
    const layer = this.quantized.get(name);
    if (!layer) return this.ckpt.readF32(name);
    return this.decoder(layer, storedLayer(this.ckpt, layer, this.manifest.layers[layer]))();
  }

  readPacked(name: string): PackedTensor | null {
    const layer = this.quantized.get(name);
    if (!layer) return null;
    const stored = storedLayer(this.ckpt, layer, this.manifest.layers[layer]);
    const e = this.manifest.layers[layer];
    let byteLength = 0;
    for (const t of Object.values(stored)) byteLength += t.data.byteLength;
    const format = FORMATS[e.format], file = this.fileOf(`${layer}.weight`);
    return {
      shape: [e.rows, e.cols], byteLength, decode: this.decoder(layer, stored),
      rowGrid: () => format.rowGrid?.(unpackLayer(stored, layer, e, file), e.params, e.rows, e.cols) ?? null,
    };
  }

  /** Unpacks and decodes a stored layer to its dense weight. */
  private decoder(layer: string, stored: Record<string, StoredTensor>): () => Float32Array {
    const e = this.manifest.layers[layer], file = this.fileOf(`${layer}.weight`);
    return () => {
      try {
        return FORMATS[e.format].decode(unpackLayer(stored, layer, e, file), e.params, e.rows, e.cols);
      } catch (err) {
        if (err instanceof LowbitError) throw err;
        throw new LowbitError(`layer ${layer}: ${(err as Error).message}`, file);
      }
    };
  }

  private firstTensorOf(layer: string): string {
    const t = this.ckpt.names().find((n) => n.startsWith(`${layer}.`));
    if (!t) throw new LowbitError(`no tensors for quantized layer ${layer}`, this.dir);
    return t;
  }
}
