/**
 * Model configuration, read from a Hugging Face config.json. lowbit runs the Llama family of
 * decoders; the members differ only in details captured here:
 *   - Llama 2/3 (LlamaForCausalLM): optional attention/MLP bias, Llama-3 `rope_scaling`.
 *   - Mistral (MistralForCausalLM): `sliding_window` attention.
 *   - Phi-3 (Phi3ForCausalLM): fused qkv_proj and gate_up_proj read as their parts (phi3.ts),
 *     LongRoPE scaling (Phi-3 128k), `sliding_window` as Mistral's.
 *   - Mixtral (MixtralForCausalLM): Mistral with a mixture-of-experts MLP (num_local_experts,
 *     num_experts_per_tok; moe.ts).
 *   - Qwen2 (Qwen2ForCausalLM): bias on q/k/v (not o), usually tied embeddings in small sizes; with
 *     `use_sliding_window`, the layers from `max_window_layers` on (or those `layer_types` names
 *     "sliding_attention") attend within `sliding_window`, as transformers applies it.
 * RoPE settings are read from top-level `rope_theta`/`rope_scaling` (transformers <= 4) or from
 * `rope_parameters` (transformers 5).
 */
import { joinPath } from '../io/host.js';
import { LowbitError } from '../util/errors.js';
import { readJson } from '../io/read-at.js';

export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  /** Per-dimension divisors of the inverse frequencies, as GGUF stores Llama-3 scaling (rope_freqs.weight). */
  | { type: 'freq-factors'; factors: number[] }
  /**
   * Phi-3's LongRoPE: per-dimension divisors `short` within the original context and `long` past it
   * (chosen by the sequence's length, as transformers does), cos and sin scaled by `attentionFactor`.
   */
  | { type: 'longrope'; short: number[]; long: number[]; originalMaxPositions: number; attentionFactor: number };

export interface ModelConfig {
  family: 'llama' | 'mistral' | 'qwen2' | 'phi3' | 'mixtral' | 'opt';
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  /** The norms' epsilon (RMSNorm; LayerNorm for OPT). */
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  /** Which projections carry a bias vector. */
  bias: { qkv: boolean; o: boolean; mlp: boolean };
  /** Sliding attention window in tokens, or 0 for full causal attention. */
  slidingWindow: number;
  /** The layers that use the sliding window (Qwen2); absent: every layer (Mistral). */
  slidingLayers?: number[];
  /** End-of-sequence token (generation stops there), when the model names one. */
  eosTokenId?: number;
  /** Beginning-of-sequence token, when the model names one (zero-shot scoring conditions an empty context on it). */
  bosTokenId?: number;
  /** OPT's layout (opt.ts); absent for every other family. */
  opt?: OptLayout;
  /** Mixture of experts (Mixtral): the MLP is `experts` SwiGLU experts, `topK` of them per token (moe.ts). */
  moe?: { experts: number; topK: number };
}

export interface OptLayout {
  /** Width of the token embeddings; project_in/project_out map it to and from hiddenSize when it differs. */
  wordEmbedProjDim: number;
  /** Pre-LayerNorm blocks (OPT >= 1.3b) or post-LayerNorm ones (OPT-350m). */
  layerNormBefore: boolean;
  /** Whether the decoder ends with final_layer_norm. */
  finalLayerNorm: boolean;
}

const FAMILIES: Record<string, ModelConfig['family']> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Phi3ForCausalLM: 'phi3',
  MixtralForCausalLM: 'mixtral',
  OPTForCausalLM: 'opt',
};

export function loadConfig(modelDir: string): ModelConfig {
  const file = joinPath(modelDir, 'config.json');
  return parseConfig(readJson(file) as Record<string, unknown>, file);
}

/** Upper bounds far above any real model, so a corrupt size fails here rather than as an allocation. */
const MAX_LAYERS = 4096;
const MAX_DIM = 1 << 24;

/** Checks the sizes a config gives (from config.json or GGUF metadata) before anything is allocated from them. */
export function checkConfigSizes(cfg: ModelConfig, file: string): ModelConfig {
  const dims: [string, number, number][] = [
    ['num_hidden_layers', cfg.numLayers, MAX_LAYERS], ['hidden_size', cfg.hiddenSize, MAX_DIM], ['intermediate_size', cfg.intermediateSize, MAX_DIM],
    ['num_attention_heads', cfg.numHeads, MAX_DIM], ['num_key_value_heads', cfg.numKvHeads, MAX_DIM], ['head_dim', cfg.headDim, MAX_DIM],
    ['vocab_size', cfg.vocabSize, MAX_DIM], ['max_position_embeddings', cfg.maxPositions, MAX_DIM],
  ];
  for (const [key, v, max] of dims)
    if (!Number.isSafeInteger(v) || v <= 0 || v > max) throw new LowbitError(`${key} must be an integer from 1 to ${max}, got ${v}`, file);
  if (cfg.headDim % 2 !== 0) throw new LowbitError(`head dimension ${cfg.headDim} must be an even integer`, file);
  if (cfg.numHeads % cfg.numKvHeads !== 0) throw new LowbitError(`num_attention_heads ${cfg.numHeads} is not a multiple of num_key_value_heads ${cfg.numKvHeads}`, file);
  if (!(cfg.rmsNormEps > 0 && cfg.rmsNormEps < 1)) throw new LowbitError(`rms_norm_eps must be in (0, 1), got ${cfg.rmsNormEps}`, file);
  return cfg;
}

export function parseConfig(raw: Record<string, unknown>, file = 'config.json'): ModelConfig {
  const archs = raw.architectures;
  const arch = Array.isArray(archs) ? String(archs[0]) : undefined;
  const family = arch ? FAMILIES[arch] : undefined;
  if (!family)
    throw new LowbitError(`unsupported architecture ${arch ?? '(none given)'}; lowbit supports ${Object.keys(FAMILIES).join(', ')}`, file);
  if (family === 'opt') return parseOptConfig(raw, file);

  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new LowbitError(`${key} must be a positive integer, got ${JSON.stringify(v)}`, file);
    return v;
  };
  const num = (v: unknown, key: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new LowbitError(`${key} must be a positive number, got ${JSON.stringify(v)}`, file);
    return v;
  };

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  const headDim = raw.head_dim == null ? hiddenSize / numHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new LowbitError(`head dimension ${headDim} must be an even integer`, file);
  if (numHeads % numKvHeads !== 0) throw new LowbitError(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`, file);
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new LowbitError(`unsupported hidden_act ${JSON.stringify(act)} (only silu)`, file);

  // RoPE: transformers 5 nests everything under rope_parameters; older configs keep rope_theta
  // at top level and an optional rope_scaling object.
  const params = (raw.rope_parameters ?? null) as Record<string, unknown> | null;
  const scalingRaw = (params ?? (raw.rope_scaling as Record<string, unknown> | null) ?? null) as Record<string, unknown> | null;
  const ropeTheta = num(params?.rope_theta ?? raw.rope_theta ?? 10000, 'rope_theta');
  const ropeScaling = parseRopeScaling(scalingRaw, file, num, { raw, headDim });

  let slidingWindow = 0, slidingLayers: number[] | undefined;
  const numLayers = int('num_hidden_layers');
  // Mistral, Mixtral and Phi-3 apply `sliding_window` on every layer (transformers: the sliding-window causal mask).
  if ((family === 'mistral' || family === 'mixtral' || family === 'phi3') && raw.sliding_window != null) slidingWindow = int('sliding_window');
  if (family === 'qwen2' && raw.use_sliding_window === true) {
    slidingWindow = int('sliding_window');
    slidingLayers = qwen2SlidingLayers(raw, numLayers, file);
  }

  return checkConfigSizes({
    family,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    rmsNormEps: num(raw.rms_norm_eps ?? 1e-6, 'rms_norm_eps'),
    ropeTheta,
    ropeScaling,
    maxPositions: int('max_position_embeddings', 2048),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    bias: family === 'qwen2'
      ? { qkv: true, o: false, mlp: false }
      : { qkv: raw.attention_bias === true, o: raw.attention_bias === true, mlp: raw.mlp_bias === true },
    slidingWindow,
    ...(slidingLayers ? { slidingLayers } : {}),
    ...(family === 'mixtral' ? { moe: parseMoe(raw, file) } : {}),
    ...(typeof raw.eos_token_id === 'number' ? { eosTokenId: raw.eos_token_id } : {}),
    ...(typeof raw.bos_token_id === 'number' ? { bosTokenId: raw.bos_token_id } : {}),
  }, file);
}

/**
 * Qwen2's sliding layers: from `layer_types` when the config lists them (transformers 5 writes
 * them), else the layers from `max_window_layers` on (transformers' rule for older configs).
 */
function qwen2SlidingLayers(raw: Record<string, unknown>, numLayers: number, file: string): number[] {
  const types = raw.layer_types;
  if (Array.isArray(types)) {
    if (types.length !== numLayers || types.some((t) => t !== 'sliding_attention' && t !== 'full_attention'))
      throw new LowbitError(`layer_types must list "sliding_attention" or "full_attention" for each of the ${numLayers} layers`, file);
    return types.flatMap((t, i) => (t === 'sliding_attention' ? [i] : []));
  }
  const from = raw.max_window_layers ?? numLayers;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0) throw new LowbitError(`max_window_layers must be a non-negative integer, got ${JSON.stringify(from)}`, file);
  return Array.from({ length: Math.max(0, numLayers - from) }, (_, i) => from + i);
}

/** Attention window of decoder layer `layer` in tokens (0: full causal attention). */
export function layerWindow(cfg: Pick<ModelConfig, 'slidingWindow' | 'slidingLayers'>, layer: number): number {
  return !cfg.slidingLayers || cfg.slidingLayers.includes(layer) ? cfg.slidingWindow : 0;
}

function parseRopeScaling(s: Record<string, unknown> | null, file: string, num: (v: unknown, k: string) => number,
  model: { raw: Record<string, unknown>; headDim: number }): RopeScaling {
  const type = String(s?.rope_type ?? s?.type ?? 'default');
  const partial = s?.partial_rotary_factor ?? model.raw.partial_rotary_factor ?? 1;
  if (partial !== 1) throw new LowbitError(`partial_rotary_factor ${JSON.stringify(partial)} is not supported (only 1: every dimension rotates)`, file);
  switch (type) {
    case 'default':
      return { type: 'default' };
    case 'linear':
      return { type: 'linear', factor: num(s?.factor, 'rope_scaling.factor') };
    case 'llama3':
      return {
        type: 'llama3',
        factor: num(s?.factor, 'rope_scaling.factor'),
        lowFreqFactor: num(s?.low_freq_factor, 'rope_scaling.low_freq_factor'),
        highFreqFactor: num(s?.high_freq_factor, 'rope_scaling.high_freq_factor'),
        originalMaxPositions: num(s?.original_max_position_embeddings, 'rope_scaling.original_max_position_embeddings'),
      };
    case 'longrope':
      return parseLongRope(s!, model.raw, model.headDim, file, num);
    default:
      throw new LowbitError(`unsupported RoPE scaling type ${type} (supported: default, linear, llama3, longrope)`, file);
  }
}

/**
 * LongRoPE as transformers' _compute_longrope_parameters reads it: the original context from the
 * scaling block or the config's top level, the default attention factor
 * sqrt(1 + ln(factor) / ln(original)) with factor = max_position_embeddings / original (Phi-3's rule).
 */
function parseLongRope(s: Record<string, unknown>, raw: Record<string, unknown>, headDim: number, file: string, num: (v: unknown, k: string) => number): RopeScaling {
  const factors = (key: 'short_factor' | 'long_factor'): number[] => {
    const v = s[key];
    if (!Array.isArray(v) || v.length !== headDim / 2 || v.some((x) => typeof x !== 'number' || !(x > 0)))
      throw new LowbitError(`rope_scaling.${key} must list ${headDim / 2} positive numbers (one per rotary frequency)`, file);
    return v as number[];
  };
  const hasOriginal = raw.original_max_position_embeddings != null || s.original_max_position_embeddings != null;
  const maxPositions = num(raw.max_position_embeddings ?? 2048, 'max_position_embeddings'); // parseConfig's default
  const originalMaxPositions = hasOriginal ? num(raw.original_max_position_embeddings ?? s.original_max_position_embeddings, 'original_max_position_embeddings') : maxPositions;
  const factor = hasOriginal ? maxPositions / originalMaxPositions : Number(s.factor ?? 1);
  const attentionFactor = s.attention_factor != null ? num(s.attention_factor, 'rope_scaling.attention_factor')
    : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(originalMaxPositions));
  return { type: 'longrope', short: factors('short_factor'), long: factors('long_factor'), originalMaxPositions, attentionFactor };
}

/**
 * OPT's config.json (transformers' OPTConfig): ffn_dim, word_embed_proj_dim, do_layer_norm_before,
 * _remove_final_layer_norm, enable_bias; ReLU; LayerNorm with eps 1e-5; learned positions.
 */
function parseOptConfig(raw: Record<string, unknown>, file: string): ModelConfig {
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new LowbitError(`${key} must be a positive integer, got ${JSON.stringify(v)}`, file);
    return v;
  };
  const act = raw.activation_function ?? 'relu';
  if (act !== 'relu') throw new LowbitError(`unsupported activation_function ${JSON.stringify(act)} for OPT (only relu)`, file);
  if (raw.layer_norm_elementwise_affine === false) throw new LowbitError('layer_norm_elementwise_affine=false is not supported (OPT LayerNorms with weight and bias only)', file);
  const hiddenSize = int('hidden_size'), numHeads = int('num_attention_heads');
  if (hiddenSize % numHeads !== 0) throw new LowbitError(`hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`, file);
  const bias = raw.enable_bias !== false;
  const layerNormBefore = raw.do_layer_norm_before !== false;
  return checkConfigSizes({
    family: 'opt',
    hiddenSize,
    intermediateSize: int('ffn_dim'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    vocabSize: int('vocab_size'),
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: { type: 'default' },
    maxPositions: int('max_position_embeddings', 2048),
    tieWordEmbeddings: raw.tie_word_embeddings !== false,
    bias: { qkv: bias, o: bias, mlp: bias },
    slidingWindow: 0,
    opt: { wordEmbedProjDim: int('word_embed_proj_dim', hiddenSize), layerNormBefore, finalLayerNorm: layerNormBefore && raw._remove_final_layer_norm !== true },
    ...(typeof raw.eos_token_id === 'number' ? { eosTokenId: raw.eos_token_id } : {}),
    ...(typeof raw.bos_token_id === 'number' ? { bosTokenId: raw.bos_token_id } : {}),
  }, file);
}

function parseMoe(raw: Record<string, unknown>, file: string): { experts: number; topK: number } {
  const experts = raw.num_local_experts, topK = raw.num_experts_per_tok ?? 2;
  if (typeof experts !== 'number' || !Number.isSafeInteger(experts) || experts < 1 || experts > 1024) throw new LowbitError(`num_local_experts must be an integer from 1 to 1024, got ${JSON.stringify(experts)}`, file);
  if (typeof topK !== 'number' || !Number.isSafeInteger(topK) || topK < 1 || topK > experts) throw new LowbitError(`num_experts_per_tok must be an integer from 1 to num_local_experts (${experts}), got ${JSON.stringify(topK)}`, file);
  return { experts, topK };
}
