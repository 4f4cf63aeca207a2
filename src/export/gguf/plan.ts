/**
 * Which ggml type each tensor of a model gets in a GGUF target: a llama.cpp mix (mixes.ts), or one
 * type for every matrix (llama-quantize --pure), with llama-quantize's --token-embedding-type and
 * --output-tensor-type overrides. 1-D tensors (norms, biases) are always F32.
 */
import type { ModelConfig } from '../../arch/config.js';
import { type Mix, type MixOverrides, MIXES, fallbackType, mixTypeFor } from '../../quant/ggml/mixes.js';
import { BLOCK_TYPES, FLOAT_TYPES } from '../../quant/ggml/registry.js';
import { LowbitError } from '../../util/errors.js';
import { ggufName } from './names.js';

/** What the file's tensors are quantized to: a llama.cpp mix, or one type for every 2-D tensor. */
export type GgufTarget = { mix: Mix } | { type: string };

export interface GgufOutput {
  target: GgufTarget;
  overrides: MixOverrides;
}

/** Parses a target name: a mix name first (as llama-quantize reads its ftype argument), else a tensor type. */
export function parseGgufTarget(name: string): GgufTarget {
  const up = name.toUpperCase();
  if ((MIXES as readonly string[]).includes(up)) return { mix: up as Mix };
  if (BLOCK_TYPES[up] || FLOAT_TYPES[up]) return { type: up };
  throw new LowbitError(`unknown GGUF type ${name}; mixes: ${MIXES.join(', ')}; types: ${[...Object.keys(FLOAT_TYPES), ...Object.keys(BLOCK_TYPES)].join(', ')}`);
}

export function targetName(t: GgufTarget): string {
  return 'mix' in t ? t.mix : t.type;
}

/** The ggml type of the Hugging Face tensor `hf` of shape `shape` (F32 for 1-D tensors). */
export function ggufTypeOf(cfg: ModelConfig, out: GgufOutput, hf: string, shape: number[]): string {
  if (shape.length === 1) return 'F32';
  const g = ggufName(hf);
  if (!g) throw new Error(`no GGUF name for ${hf}`);
  if (g.name.endsWith('.ffn_gate_inp.weight')) return 'F32'; // the MoE router stays F32 in every mix
  const rowLength = shape[shape.length - 1], o = out.overrides, t = out.target;
  if ('mix' in t)
    return mixTypeFor(t.mix, { role: g.role, layer: g.layer, nLayers: cfg.numLayers, nGqa: cfg.numHeads / cfg.numKvHeads, rowLength, tiedEmbeddings: cfg.tieWordEmbeddings, nExperts: cfg.moe?.experts ?? 0 }, o);
  if (g.role === 'token_embd' && o.tokenEmbeddingType) return o.tokenEmbeddingType;
  if (g.role === 'output' && o.outputTensorType) return o.outputTensorType;
  return fallbackType(t.type, rowLength);
}
