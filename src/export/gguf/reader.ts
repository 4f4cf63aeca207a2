/**
 * Opens a GGUF file (lowbit's or llama.cpp's) as a model lowbit runs: the configuration and the
 * tokenizer from its metadata, and a TensorSource that serves every tensor under its Hugging Face
 * name as dense f32 (block types dequantized exactly as ggml does; attn_q/attn_k rows put back
 * into Hugging Face's rope layout).
 */
import { GgufFile, GGUF_MAGIC } from '../../io/gguf.js';
import { openAndParse } from '../../io/read-at.js';
import type { PackedTensor, TensorSource } from '../../io/tensor-source.js';
import { tokenizerFromJson } from '../../io/tokenizer.js';
import { decodeGgml } from '../../quant/ggml/ggml-weight.js';
import { BLOCK_TYPES, GGML_TYPE_NAMES } from '../../quant/ggml/registry.js';
import { LowbitError } from '../../util/errors.js';
import type { ModelDir } from '../reader.js';
import type { ModelConfig } from '../../arch/config.js';
import { configFromMetadata } from './metadata.js';
import { tokenizerJsonFromMetadata } from './tokenizer.js';
import { ggufName, hfName, permuteRows, permutedHeads } from './names.js';

/** Whether the file starts with GGUF's magic. */
export function isGgufFile(file: string): boolean {
  const b = openAndParse(file, (f) => {
    const head = new Uint8Array(4);
    const n = f.read(head, 0);
    f.close();
    return head.subarray(0, n);
  });
  return b.length === 4 && new DataView(b.buffer).getUint32(0, true) === GGUF_MAGIC;
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
    const arch = String(get('general.architecture'));
    const config = configFromMetadata(get, g.tensors.has('output.weight'), file);
    const factors = (name: string): number[] => {
      const t = g.info(name);
      if (t.type !== 0 || t.ne.length !== 1 || t.ne[0] !== config.headDim / 2) throw new LowbitError(`${name} must be F32 [${config.headDim / 2}]`, file);
      return Array.from(new Float32Array(g.readBytes(t.name).slice().buffer));
    };
    // Llama-3 rope scaling, as llama.cpp's converter stores it: one divisor per frequency.
    if (g.tensors.has('rope_freqs.weight')) config.ropeScaling = { type: 'freq-factors', factors: factors('rope_freqs.weight') };
    // LongRoPE (phi3): long and short divisors, the attention factor and the original context.
    if (g.tensors.has('rope_factors_long.weight')) {
      const num = (k: string) => {
        const v = get(`${arch}.${k}`);
        if (typeof v !== 'number') throw new LowbitError(`missing metadata ${arch}.${k} beside rope_factors_long.weight`, file);
        return v;
      };
      config.ropeScaling = {
        type: 'longrope', long: factors('rope_factors_long.weight'), short: factors('rope_factors_short.weight'),
        originalMaxPositions: num('rope.scaling.original_context_length'), attentionFactor: num('rope.scaling.attn_factor'),
      };
    }
    const source = new GgufSource(g, config, arch);
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

/**
 * A Hugging Face tensor inside a GGUF tensor: rows [rowStart, rowStart + rows) of its rows (all of
 * them; an expert of a merged ffn_*_exps, whose experts are stacked rows; or a part of a fused
 * matrix). Rows are whole ggml rows, so a part is a byte range.
 */
interface Located {
  tensor: string;
  rowStart: number;
  rows: number;
}

const MERGED_EXPERTS = /^blk\.(\d+)\.ffn_(gate|up|down)_exps\.weight$/;

/**
 * The Hugging Face tensors a GGUF tensor holds: itself (hfName), each expert of a merged
 * ffn_*_exps (Mixtral), or the parts of phi3's fused ffn_up (gate; up) and attn_qkv (q; k; v), as
 * llama.cpp's converter writes them (lowbit writes q/k/v split).
 */
function hfTensorsOf(name: string, ne: number[], arch: string, cfg: ModelConfig): [string, Located][] {
  const whole = (hf: string): [string, Located] => [hf, { tensor: name, rowStart: 0, rows: ne[1] ?? 1 }];
  const parts = (layer: string, names: string[], rows: number[]): [string, Located][] => {
    let at = 0;
    return names.map((p, i) => {
      const located: [string, Located] = [`model.layers.${layer}.${p}.weight`, { tensor: name, rowStart: at, rows: rows[i] }];
      at += rows[i];
      return located;
    });
  };
  const e = MERGED_EXPERTS.exec(name);
  if (e) {
    const which = { gate: 'w1', up: 'w3', down: 'w2' }[e[2] as 'gate' | 'up' | 'down'];
    return parts(e[1], Array.from({ length: ne[2] }, (_, x) => `block_sparse_moe.experts.${x}.${which}`), Array(ne[2]).fill(ne[1]));
  }
  const fused = /^blk\.(\d+)\.(ffn_up|attn_qkv)\.weight$/.exec(name);
  if (fused && arch === 'phi3') {
    if (fused[2] === 'ffn_up') return parts(fused[1], ['mlp.gate_proj', 'mlp.up_proj'], [ne[1] / 2, ne[1] / 2]);
    const q = cfg.numHeads * cfg.headDim, kv = cfg.numKvHeads * cfg.headDim;
    return parts(fused[1], ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'], [q, kv, kv]);
  }
  const hf = hfName(name);
  return hf ? [whole(hf)] : [];
}

class GgufSource implements TensorSource {
  readonly dir: string;
  private readonly byHf = new Map<string, Located>();

  constructor(private readonly g: GgufFile, private readonly config: ModelDir['config'], private readonly arch: string) {
    this.dir = g.path;
    for (const [name, t] of g.tensors) for (const [hf, at] of hfTensorsOf(name, t.ne, arch, config)) this.byHf.set(hf, at);
  }

  has(name: string): boolean {
    return this.byHf.has(name);
  }

  private locate(name: string): Located & { info: ReturnType<GgufFile['info']> } {
    const at = this.byHf.get(name);
    if (!at) throw new LowbitError(`no tensor ${ggufName(name)?.name ?? name} (for ${name})`, this.dir);
    return { ...at, info: this.g.info(at.tensor) };
  }

  shape(name: string): number[] {
    const { info, rows } = this.locate(name);
    return info.ne.length === 1 ? [info.ne[0]] : [rows, info.ne[0]];
  }

  fileOf(): string {
    return this.dir;
  }

  /** The ggml type name of a tensor (for inspect). */
  typeOf(name: string): string {
    const { info } = this.locate(name);
    return GGML_TYPE_NAMES[info.type] ?? String(info.type);
  }

  /** The tensor's bytes: its rows' byte range in the GGUF tensor. */
  private bytesOf(name: string): Uint8Array {
    const { info, rowStart, rows } = this.locate(name);
    const bytes = this.g.readBytes(info.name);
    if (info.ne.length === 1) return bytes;
    const totalRows = info.ne.slice(1).reduce((a, b) => a * b, 1), rowBytes = bytes.byteLength / totalRows;
    return rowStart === 0 && rows === totalRows ? bytes : bytes.slice(rowStart * rowBytes, (rowStart + rows) * rowBytes);
  }

  readF32(name: string): Float32Array {
    return this.decoder(name, this.bytesOf(name))();
  }

  /** Block-type matrices stay as their ggml blocks until a forward pass needs them. */
  readPacked(name: string): PackedTensor | null {
    const { info } = this.locate(name);
    if (this.shape(name).length !== 2 || !BLOCK_TYPES[GGML_TYPE_NAMES[info.type]]) return null;
    const bytes = this.bytesOf(name);
    return { shape: this.shape(name), byteLength: bytes.byteLength, decode: this.decoder(name, bytes) };
  }

  /** ggml's dequantization, with attn_q/attn_k rows put back into Hugging Face's rope order (llama architecture only). */
  private decoder(name: string, bytes: Uint8Array): () => Float32Array {
    const { info } = this.locate(name), shape = this.shape(name);
    const rows = shape.length > 1 ? shape[0] : 1, cols = shape[shape.length - 1];
    const heads = this.arch === 'llama' ? permutedHeads(this.config, name) : 0;
    return () => {
      const dense = decodeGgml(GGML_TYPE_NAMES[info.type], bytes, rows, cols);
      return heads ? new Float32Array(permuteRows(new Uint8Array(dense.buffer), rows, heads, false).buffer) : dense;
    };
  }
}
