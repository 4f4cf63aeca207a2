/**
 * llama.cpp's named quantization mixes (llama-quantize's ftypes): which ggml type each tensor of a
 * model gets. Written down from llama.cpp's src/llama-quant.cpp (llama_tensor_get_type_impl and
 * tensor_type_fallback) for dense (non-MoE, non-Falcon, non-70B) models without an importance
 * matrix, so a lowbit GGUF of a mix holds the same types as llama-quantize's:
 *
 *   mix      base    attn_v                      ffn_down                    attn_output  output
 *   Q2_K     Q2_K    Q4_K if n_gqa>=4 else Q3_K  Q3_K                        Q3_K         Q6_K
 *   Q3_K_S   Q3_K    -                           -                           -            Q6_K
 *   Q3_K_M   Q3_K    Q5_K if i<2 else Q4_K       Q5_K if i<n/16 else Q4_K    Q4_K         Q6_K
 *   Q3_K_L   Q3_K    Q5_K                        Q5_K                        Q5_K         Q6_K
 *   Q4_K_S   Q4_K    Q5_K if i<4                 Q5_K if i<n/8               -            Q6_K
 *   Q4_K_M   Q4_K    Q6_K if more_bits(i)        Q6_K if more_bits(i)        -            Q6_K
 *   Q5_K_S   Q5_K    -                           -                           -            Q6_K
 *   Q5_K_M   Q5_K    Q6_K if more_bits(i)        Q6_K if more_bits(i)        -            Q6_K
 *   Q6_K     Q6_K    -                           -                           -            Q6_K
 *   Q4_0     Q4_0    -                           -                           -            Q6_K
 *   Q4_1, Q5_0, Q5_1: the base type everywhere, output Q6_K (as Q4_0)
 *   IQ4_NL   IQ4_NL  Q5_K if n_gqa>=4            Q5_K if i<n/8               -            Q6_K
 *   Q8_0     Q8_0    -                           -                           -            Q8_0
 *   IQ4_XS   IQ4_XS  Q5_K if n_gqa>=4            Q5_K if i<n/8               -            Q6_K
 *
 * more_bits(i) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2 (integer division, as in C). The token
 * embedding gets the base type (the output's type when embeddings are tied). A tensor whose row
 * length is not a multiple of its type's block size falls back (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0,
 * Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL; F16 when even that does not divide). Norms and other
 * 1-D tensors stay F32.
 */
import { BLOCK_TYPES } from './registry.js';

export const MIXES = ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q4_K_S', 'Q4_K_M', 'Q5_K_S', 'Q5_K_M', 'Q6_K', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'IQ4_NL', 'IQ4_XS'] as const;
export type Mix = (typeof MIXES)[number];

/** llama_ftype ids written as general.file_type. */
export const FILE_TYPE: Record<string, number> = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q2_K: 10, Q3_K_S: 11, Q3_K_M: 12, Q3_K_L: 13,
  Q4_K_S: 14, Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18, IQ4_NL: 25, IQ4_XS: 30, BF16: 32,
};

const BASE: Record<Mix, string> = {
  Q2_K: 'Q2_K', Q3_K_S: 'Q3_K', Q3_K_M: 'Q3_K', Q3_K_L: 'Q3_K', Q4_K_S: 'Q4_K', Q4_K_M: 'Q4_K', Q5_K_S: 'Q5_K',
  Q5_K_M: 'Q5_K', Q6_K: 'Q6_K', Q4_0: 'Q4_0', Q4_1: 'Q4_1', Q5_0: 'Q5_0', Q5_1: 'Q5_1', Q8_0: 'Q8_0', IQ4_NL: 'IQ4_NL', IQ4_XS: 'IQ4_XS',
};

/** What a tensor is, as the mix rules see it. */
export type TensorRole = 'token_embd' | 'output' | 'attn_q' | 'attn_k' | 'attn_v' | 'attn_output' | 'ffn_gate' | 'ffn_up' | 'ffn_down' | 'other';

export interface TensorPlace {
  role: TensorRole;
  /** Decoder block index (0 for tensors outside the blocks). */
  layer: number;
  nLayers: number;
  /** n_head / n_head_kv. */
  nGqa: number;
  /** Row length (ggml's ne[0]). */
  rowLength: number;
  tiedEmbeddings: boolean;
  /** Experts per MoE layer (0 for a dense model): llama-quantize spends more bits on 8-expert models' attention. */
  nExperts?: number;
}

export interface MixOverrides {
  /** llama-quantize --token-embedding-type */
  tokenEmbeddingType?: string;
  /** llama-quantize --output-tensor-type */
  outputTensorType?: string;
}

const moreBits = (i: number, n: number) => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;

/** The ggml type name of a 2-D weight under `mix` (a block type, or F16 in the last fallback). */
export function mixTypeFor(mix: Mix, p: TensorPlace, o: MixOverrides = {}): string {
  const { role, layer: i, nLayers: n } = p;
  // The overrides win over every rule (llama_tensor_get_type checks them first).
  if (role === 'token_embd' && o.tokenEmbeddingType) return o.tokenEmbeddingType;
  if (role === 'output' && o.outputTensorType) return o.outputTensorType;
  let t = BASE[mix];
  if (role === 'output' || (role === 'token_embd' && p.tiedEmbeddings)) {
    if (o.outputTensorType) return o.outputTensorType;
    if (p.rowLength % BLOCK_TYPES[t].blockSize !== 0) t = 'Q8_0';
    else if (t !== 'Q8_0') t = 'Q6_K';
  } else if (role === 'attn_v') {
    if (mix === 'Q2_K') t = p.nGqa >= 4 ? 'Q4_K' : 'Q3_K';
    else if (mix === 'Q3_K_M') t = i < 2 ? 'Q5_K' : 'Q4_K';
    else if (mix === 'Q3_K_L') t = 'Q5_K';
    else if ((mix === 'IQ4_XS' || mix === 'IQ4_NL') && p.nGqa >= 4) t = 'Q5_K';
    else if ((mix === 'Q4_K_M' || mix === 'Q5_K_M') && moreBits(i, n)) t = 'Q6_K';
    else if (mix === 'Q4_K_S' && i < 4) t = 'Q5_K';
    if (p.nExperts === 8) t = 'Q8_0'; // "for the 8-expert model, bumping this to Q8_0 trades just ~128MB"
  } else if (role === 'attn_k') {
    if (p.nExperts === 8) t = 'Q8_0';
  } else if (role === 'ffn_down') {
    if (mix === 'Q2_K') t = 'Q3_K';
    else if (mix === 'Q3_K_M') t = i < Math.trunc(n / 16) ? 'Q5_K' : 'Q4_K';
    else if (mix === 'Q3_K_L') t = 'Q5_K';
    else if (mix === 'Q4_K_M') { if (moreBits(i, n)) t = 'Q6_K'; }
    else if (i < Math.trunc(n / 8) && (mix === 'IQ4_XS' || mix === 'IQ4_NL')) t = 'Q5_K';
    else if (mix === 'Q5_K_M' && moreBits(i, n)) t = 'Q6_K';
    else if (mix === 'Q4_K_S' && i < Math.trunc(n / 8)) t = 'Q5_K';
  } else if (role === 'attn_output' && p.nExperts === 8) {
    if ((['Q2_K', 'Q3_K_S', 'Q3_K_M', 'IQ4_NL', 'Q4_K_S', 'Q4_K_M', 'IQ4_XS'] as Mix[]).includes(mix)) t = 'Q5_K';
  } else if (role === 'attn_output') {
    if (mix === 'Q2_K') t = 'Q3_K';
    else if (mix === 'Q3_K_M') t = 'Q4_K';
    else if (mix === 'Q3_K_L') t = 'Q5_K';
  }
  return fallbackType(t, p.rowLength);
}

const FALLBACK: Record<string, string> = { Q2_K: 'Q4_0', Q3_K: 'Q4_0', Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0', IQ4_XS: 'IQ4_NL' };

/** tensor_type_fallback: a type whose block size divides the row length. */
export function fallbackType(t: string, rowLength: number): string {
  const bt = BLOCK_TYPES[t];
  if (!bt || rowLength % bt.blockSize === 0) return t;
  const f = FALLBACK[t] ?? t;
  return rowLength % BLOCK_TYPES[f].blockSize === 0 ? f : 'F16';
}
