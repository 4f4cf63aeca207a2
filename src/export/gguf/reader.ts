/**
 * Opens a GGUF file (lowbit's or llama.cpp's) as a model lowbit runs: the configuration and the
 * tokenizer from its metadata, and a TensorSource that serves every tensor under its Hugging Face
 * name as dense f32 (block types dequantized exactly as ggml does; attn_q/attn_k rows put back
 * into Hugging Face's rope layout).
 */
import fs from 'node:fs';
import { GgufFile, GGUF_MAGIC } from '../../io/gguf.js';
import type { PackedTensor, TensorSource } from '../../io/tensor-source.js';
import { tokenizerFromJson } from '../../io/tokenizer.js';
import { decodeGgml } from '../../quant/ggml/ggml-weight.js';
import { BLOCK_TYPES, GGML_TYPE_NAMES } from '../../quant/ggml/registry.js';
import { LowbitError } from '../../util/errors.js';
import type { ModelDir } from '../reader.js';
import { configFromMetadata } from './metadata.js';
import { tokenizerJsonFromMetadata } from './tokenizer.js';
import { ggufName, hfName, permuteRows, permutedHeads } from './names.js';

/** Whether the file starts with GGUF's magic. */
export function isGgufFile(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    return fs.readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32LE(0) === GGUF_MAGIC;
  } finally {
    fs.closeSync(fd);
  }
}

/** What `inspect` says about a GGUF file beyond the model: its types and what lowbit wrote into it. */
export interface GgufSummary {
  version: number;
  architecture: string;
  fileType: number | null;
  /** Tensor count per ggml type. */
  tensorTypes: Record<string, number>;
  /** Bits per weight over the decoder-block matrices (blk.*), from the bytes they take. */
  bitsPerWeight: number;
  /** lowbit's own keys (method, options), when lowbit wrote the file. */
  lowbit: Record<string, unknown> | null;
  /** Scalar and string metadata (arrays shown by length). */
  metadata: Record<string, unknown>;
  tensors: { name: string; type: string; shape: number[] }[];
}

export function summariseGguf(g: GgufFile): GgufSummary {
  const tensorTypes: Record<string, number> = {};
  let bits = 0, weights = 0;
  const tensors = [...g.tensors.values()].map((t) => {
    const type = GGML_TYPE_NAMES[t.type] ?? String(t.type);
    tensorTypes[type] = (tensorTypes[type] ?? 0) + 1;
    if (t.name.startsWith('blk.') && t.ne.length === 2) {
      bits += t.byteLength * 8;
      weights += t.ne[0] * t.ne[1];
    }
    return { name: t.name, type, shape: [...t.ne].reverse() };
  });
  const metadata: Record<string, unknown> = {};
  const lowbit: Record<string, unknown> = {};
  for (const [k, v] of g.metadata) {
    const value = Array.isArray(v.value) ? `[${v.value.length} entries]` : v.value;
    if (k.startsWith('lowbit.')) lowbit[k.slice(7)] = k === 'lowbit.options' ? JSON.parse(String(v.value)) : v.value;
    else metadata[k] = value;
  }
  return {
    version: g.version, architecture: String(g.get('general.architecture') ?? 'unknown'),
    fileType: typeof g.get('general.file_type') === 'number' ? (g.get('general.file_type') as number) : null,
    tensorTypes, bitsPerWeight: weights ? bits / weights : 0, lowbit: Object.keys(lowbit).length ? lowbit : null, metadata, tensors,
  };
}

export function openGgufModel(file: string): ModelDir {
  const g = GgufFile.open(file);
  try {
    const get = (k: string) => g.get(k);
    const config = configFromMetadata(get, g.tensors.has('output.weight'), file);
    if (g.tensors.has('rope_freqs.weight')) {
      // Llama-3 rope scaling, as llama.cpp's converter stores it: one divisor per frequency.
      const t = g.info('rope_freqs.weight');
      if (t.type !== 0 || t.ne.length !== 1 || t.ne[0] !== config.headDim / 2) throw new LowbitError(`rope_freqs.weight must be F32 [${config.headDim / 2}]`, file);
      config.ropeScaling = { type: 'freq-factors', factors: Array.from(new Float32Array(g.readBytes(t.name).slice().buffer)) };
    }
    const source = new GgufSource(g, config);
    return {
      dir: file, config, source, manifest: null, gguf: summariseGguf(g),
      tokenizer: () => {
        const { tokenizer, config: tcfg } = tokenizerJsonFromMetadata(get, file);
        return tokenizerFromJson(tokenizer, tcfg, file);
      },
      close: () => g.close(),
    };
  } catch (e) {
    g.close();
    throw e;
  }
}

class GgufSource implements TensorSource {
  readonly dir: string;
  private readonly byHf = new Map<string, string>();

  constructor(private readonly g: GgufFile, private readonly config: ModelDir['config']) {
    this.dir = g.path;
    for (const name of g.tensors.keys()) {
      const hf = hfName(name);
      if (hf) this.byHf.set(hf, name);
    }
  }

  has(name: string): boolean {
    return this.byHf.has(name);
  }

  private info(name: string) {
    const g = this.byHf.get(name);
    if (!g) throw new LowbitError(`no tensor ${ggufName(name)?.name ?? name} (for ${name})`, this.dir);
    return this.g.info(g);
  }

  shape(name: string): number[] {
    return [...this.info(name).ne].reverse();
  }

  fileOf(): string {
    return this.dir;
  }

  /** The ggml type name of a tensor (for inspect). */
  typeOf(name: string): string {
    return GGML_TYPE_NAMES[this.info(name).type] ?? String(this.info(name).type);
  }

  readF32(name: string): Float32Array {
    return this.decoder(name, this.g.readBytes(this.info(name).name))();
  }

  /** Block-type matrices stay as their ggml blocks until a forward pass needs them. */
  readPacked(name: string): PackedTensor | null {
    const t = this.info(name);
    if (t.ne.length !== 2 || !BLOCK_TYPES[GGML_TYPE_NAMES[t.type]]) return null;
    const bytes = this.g.readBytes(t.name);
    return { shape: this.shape(name), byteLength: bytes.byteLength, decode: this.decoder(name, bytes) };
  }

  /** ggml's dequantization, with attn_q/attn_k rows put back into Hugging Face's rope order. */
  private decoder(name: string, bytes: Uint8Array): () => Float32Array {
    const t = this.info(name), shape = this.shape(name);
    const rows = shape.length > 1 ? shape[0] : 1, cols = shape[shape.length - 1];
    const heads = permutedHeads(this.config, name);
    return () => {
      const dense = decodeGgml(GGML_TYPE_NAMES[t.type], bytes, rows, cols);
      return heads ? new Float32Array(permuteRows(new Uint8Array(dense.buffer), rows, heads, false).buffer) : dense;
    };
  }
}
