/**
 * How a Llama-family checkpoint's tensors are named and laid out in GGUF (llama.cpp's
 * convert_hf_to_gguf.py and gguf-py's tensor_mapping.py): Hugging Face names to GGUF names, the
 * role each tensor plays in the quantization mixes, and the row order of attn_q/attn_k.
 *
 * llama.cpp's "llama" architecture applies RoPE to adjacent pairs (x[2i], x[2i+1]) while Hugging
 * Face's Llama rotates halves (x[i], x[i + d/2]); the converter therefore permutes the rows of
 * q_proj and k_proj within each head: GGUF row h*d + 2i + j holds HF row h*d + j*d/2 + i. Qwen2
 * runs as NEOX-style rope in llama.cpp and is stored unpermuted. Rows are whole quantized rows, so
 * the permutation moves block bytes without touching a value (export stays lossless).
 */
import type { ModelConfig } from '../../arch/config.js';
import { LowbitError } from '../../util/errors.js';
import type { TensorRole } from '../../quant/ggml/mixes.js';

const BLOCK_PARTS: Record<string, [string, TensorRole]> = {
  'input_layernorm.weight': ['attn_norm.weight', 'other'],
  'post_attention_layernorm.weight': ['ffn_norm.weight', 'other'],
  'self_attn.q_proj.weight': ['attn_q.weight', 'attn_q'],
  'self_attn.k_proj.weight': ['attn_k.weight', 'attn_k'],
  'self_attn.v_proj.weight': ['attn_v.weight', 'attn_v'],
  'self_attn.o_proj.weight': ['attn_output.weight', 'attn_output'],
  'self_attn.q_proj.bias': ['attn_q.bias', 'other'],
  'self_attn.k_proj.bias': ['attn_k.bias', 'other'],
  'self_attn.v_proj.bias': ['attn_v.bias', 'other'],
  'self_attn.o_proj.bias': ['attn_output.bias', 'other'],
  'mlp.gate_proj.weight': ['ffn_gate.weight', 'ffn_gate'],
  'mlp.up_proj.weight': ['ffn_up.weight', 'ffn_up'],
  'mlp.down_proj.weight': ['ffn_down.weight', 'ffn_down'],
  'block_sparse_moe.gate.weight': ['ffn_gate_inp.weight', 'other'],
};

const TOP: Record<string, [string, TensorRole]> = {
  'model.embed_tokens.weight': ['token_embd.weight', 'token_embd'],
  'model.norm.weight': ['output_norm.weight', 'other'],
  'lm_head.weight': ['output.weight', 'output'],
};

export interface GgufName {
  name: string;
  role: TensorRole;
  layer: number;
  /** For one expert's linear (Mixtral): its index in the merged tensor that holds every expert's. */
  expert?: number;
}

/**
 * Mixtral's experts: llama.cpp keeps each layer's w1 (gate), w3 (up) and w2 (down) of all experts in
 * one 3-D tensor each, experts outermost (ffn_gate_exps [experts, ff, hidden], ...), and the router
 * as ffn_gate_inp, left in F32 (as convert_hf_to_gguf.py and llama-quantize keep it).
 */
const EXPERT_PARTS: Record<string, [string, TensorRole]> = {
  w1: ['ffn_gate_exps.weight', 'ffn_gate'],
  w3: ['ffn_up_exps.weight', 'ffn_up'],
  w2: ['ffn_down_exps.weight', 'ffn_down'],
};
const EXPERT = /^model\.layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.(w[123])\.weight$/;

/** The GGUF name of a Hugging Face tensor, or null for tensors GGUF does not keep (rotary caches). */
export function ggufName(hf: string): GgufName | null {
  const top = TOP[hf];
  if (top) return { name: top[0], role: top[1], layer: 0 };
  const e = EXPERT.exec(hf);
  if (e) {
    const [name, role] = EXPERT_PARTS[e[3]];
    return { name: `blk.${e[1]}.${name}`, role, layer: Number(e[1]), expert: Number(e[2]) };
  }
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  const part = m ? BLOCK_PARTS[m[2]] : undefined;
  if (!m || !part) return null;
  return { name: `blk.${m[1]}.${part[0]}`, role: part[1], layer: Number(m[1]) };
}

/** The Hugging Face name of a GGUF tensor (inverse of ggufName), or null. */
export function hfName(gguf: string): string | null {
  for (const [hf, [g]] of Object.entries(TOP)) if (g === gguf) return hf;
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
  if (!m) return null;
  for (const [hf, [g]] of Object.entries(BLOCK_PARTS)) if (g === m[2]) return `model.layers.${m[1]}.${hf}`;
  return null;
}

/**
 * GGUF architecture name of a lowbit family. Mistral, Mixtral and Phi-3 (its fused linears stored
 * split, see arch/phi3.ts) are Llama-architecture models to llama.cpp, except Phi-3 with LongRoPE:
 * only llama.cpp's phi3 architecture switches between long and short rope factors (by context
 * size) and scales by the attention factor; it runs NEOX rope (no row permutation), reads q/k/v
 * split, and wants gate and up as one ffn_up [gate; up] (fusedPart).
 */
export function ggufArch(cfg: ModelConfig): 'llama' | 'qwen2' | 'phi3' {
  if (cfg.family === 'phi3' && cfg.ropeScaling.type === 'longrope') return 'phi3';
  return cfg.family === 'qwen2' ? 'qwen2' : 'llama';
}

/** Where a tensor goes when the architecture fuses it with others: the fused tensor, its place among the parts, how many parts. */
export function fusedPart(cfg: ModelConfig, g: GgufName): { name: string; index: number; count: number } | null {
  if (ggufArch(cfg) !== 'phi3') return null;
  const m = /^(blk\.\d+)\.(ffn_gate|ffn_up)\.weight$/.exec(g.name);
  return m ? { name: `${m[1]}.ffn_up.weight`, index: m[2] === 'ffn_gate' ? 0 : 1, count: 2 } : null;
}

/** Throws when llama.cpp could not run the model as GGUF stores it (checked before any work). */
export function checkGgufExportable(cfg: ModelConfig, file: string): void {
  if (cfg.family === 'opt') throw new LowbitError('OPT cannot be written to GGUF: llama.cpp has no OPT architecture (keep the lowbit directory)', file);
}

/** Heads whose rows are permuted for `hf` (0: none): q_proj by n_head, k_proj by n_head_kv (llama only). */
export function permutedHeads(cfg: ModelConfig, hf: string): number {
  if (ggufArch(cfg) !== 'llama') return 0;
  if (/self_attn\.q_proj\.(weight|bias)$/.test(hf)) return cfg.numHeads;
  if (/self_attn\.k_proj\.(weight|bias)$/.test(hf)) return cfg.numKvHeads;
  return 0;
}

/**
 * Reorders whole rows (each `rowBytes` long) of a [rows, *] tensor between HF's and GGUF's rope
 * layouts; `toGguf` false applies the inverse.
 */
export function permuteRows(data: Uint8Array, rows: number, heads: number, toGguf: boolean): Uint8Array {
  const rowBytes = data.byteLength / rows, d = rows / heads, half = d / 2;
  const out = new Uint8Array(data.byteLength);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < half; i++)
      for (let j = 0; j < 2; j++) {
        const g = h * d + 2 * i + j, f = h * d + j * half + i;
        const [dst, src] = toGguf ? [g, f] : [f, g];
        out.set(data.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
  return out;
}
