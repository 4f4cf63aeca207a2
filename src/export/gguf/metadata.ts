/**
 * GGUF metadata of a Llama-family model (gguf-py's constants and convert_hf_to_gguf.py): the
 * architecture's hyperparameters under `<arch>.*`, and the reverse, a ModelConfig from a GGUF
 * file's metadata so lowbit can run files that llama.cpp made.
 */
import { checkConfigSizes, type ModelConfig } from '../../arch/config.js';
import { type GgufValue, gv } from '../../io/gguf.js';
import { LowbitError } from '../../util/errors.js';
import { ggufArch } from './names.js';

export function architectureMetadata(cfg: ModelConfig): [string, GgufValue][] {
  const arch = ggufArch(cfg);
  const kv: [string, GgufValue][] = [
    ['general.architecture', gv.str(arch)],
    [`${arch}.vocab_size`, gv.u32(cfg.vocabSize)],
    [`${arch}.context_length`, gv.u32(cfg.maxPositions)],
    [`${arch}.embedding_length`, gv.u32(cfg.hiddenSize)],
    [`${arch}.block_count`, gv.u32(cfg.numLayers)],
    [`${arch}.feed_forward_length`, gv.u32(cfg.intermediateSize)],
    [`${arch}.attention.head_count`, gv.u32(cfg.numHeads)],
    [`${arch}.attention.head_count_kv`, gv.u32(cfg.numKvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(cfg.rmsNormEps)],
    [`${arch}.rope.freq_base`, gv.f32(cfg.ropeTheta)],
    [`${arch}.rope.dimension_count`, gv.u32(cfg.headDim)],
  ];
  if (cfg.headDim * cfg.numHeads !== cfg.hiddenSize) {
    kv.push([`${arch}.attention.key_length`, gv.u32(cfg.headDim)], [`${arch}.attention.value_length`, gv.u32(cfg.headDim)]);
  }
  const rs = cfg.ropeScaling;
  if (rs.type === 'linear') kv.push([`${arch}.rope.scaling.type`, gv.str('linear')], [`${arch}.rope.scaling.factor`, gv.f32(rs.factor)]);
  // LongRoPE (convert_hf_to_gguf.py's Phi3MiniModel): the factors are tensors (ropeFactorTensors).
  if (rs.type === 'longrope')
    kv.push([`${arch}.rope.scaling.attn_factor`, gv.f32(rs.attentionFactor)], [`${arch}.rope.scaling.original_context_length`, gv.u32(rs.originalMaxPositions)]);
  if (cfg.slidingWindow > 0) kv.push([`${arch}.attention.sliding_window`, gv.u32(cfg.slidingWindow)]);
  if (cfg.moe) kv.push([`${arch}.expert_count`, gv.u32(cfg.moe.experts)], [`${arch}.expert_used_count`, gv.u32(cfg.moe.topK)]);
  return kv;
}

/**
 * Llama-3 rope scaling is stored by the converter as a `rope_freqs.weight` tensor of per-dimension
 * factors (LlamaModel.generate_extra_tensors): 1 for high frequencies, `factor` for low ones, and
 * the smooth blend between them.
 */
export function ropeFreqFactors(cfg: ModelConfig): Float32Array | null {
  const rs = cfg.ropeScaling;
  if (rs.type === 'freq-factors') return Float32Array.from(rs.factors);
  if (rs.type !== 'llama3') return null;
  const half = cfg.headDim / 2, out = new Float32Array(half);
  const lowWavelen = rs.originalMaxPositions / rs.lowFreqFactor, highWavelen = rs.originalMaxPositions / rs.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const freq = 1 / cfg.ropeTheta ** ((2 * i) / cfg.headDim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = rs.factor;
    else {
      const smooth = (rs.originalMaxPositions / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / rs.factor + smooth);
    }
  }
  return out;
}

/** LongRoPE's per-dimension factors as llama.cpp's phi3 architecture reads them. */
export function ropeFactorTensors(cfg: ModelConfig): [string, Float32Array][] {
  const rs = cfg.ropeScaling;
  return rs.type === 'longrope' ? [['rope_factors_long.weight', Float32Array.from(rs.long)], ['rope_factors_short.weight', Float32Array.from(rs.short)]] : [];
}

/**
 * A ModelConfig from GGUF metadata (llama, qwen2 and phi3 architectures; llama with experts is
 * Mixtral). LongRoPE's factors are tensors: the reader fills them in (gguf/reader.ts).
 */
export function configFromMetadata(get: (key: string) => unknown, hasOutput: boolean, file: string): ModelConfig {
  const arch = get('general.architecture');
  if (arch !== 'llama' && arch !== 'qwen2' && arch !== 'phi3') throw new LowbitError(`unsupported GGUF architecture ${String(arch)}; lowbit runs llama, qwen2 and phi3`, file);
  const experts = Number(get(`${arch}.expert_count`) ?? 0);
  const num = (key: string, fallback?: number): number => {
    const v = get(`${arch}.${key}`) ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new LowbitError(`missing or invalid metadata ${arch}.${key}`, file);
    return v;
  };
  const hidden = num('embedding_length'), heads = num('attention.head_count');
  const tokens = get('tokenizer.ggml.tokens');
  const vocab = num('vocab_size', Array.isArray(tokens) ? tokens.length : undefined);
  const scalingType = get(`${arch}.rope.scaling.type`);
  return checkConfigSizes({
    family: experts > 0 ? 'mixtral' : arch,
    ...(experts > 0 ? { moe: { experts, topK: num('expert_used_count') } } : {}),
    hiddenSize: hidden,
    intermediateSize: num('feed_forward_length'),
    numLayers: num('block_count'),
    numHeads: heads,
    numKvHeads: num('attention.head_count_kv', heads),
    headDim: num('attention.key_length', hidden / heads),
    vocabSize: vocab,
    rmsNormEps: num('attention.layer_norm_rms_epsilon'),
    ropeTheta: num('rope.freq_base', 10000),
    ropeScaling: scalingType === 'linear' ? { type: 'linear', factor: num('rope.scaling.factor') } : { type: 'default' },
    maxPositions: num('context_length'),
    tieWordEmbeddings: !hasOutput,
    bias: { qkv: arch === 'qwen2', o: false, mlp: false },
    slidingWindow: 0,
    ...(typeof get('tokenizer.ggml.eos_token_id') === 'number' ? { eosTokenId: get('tokenizer.ggml.eos_token_id') as number } : {}),
    ...(typeof get('tokenizer.ggml.bos_token_id') === 'number' ? { bosTokenId: get('tokenizer.ggml.bos_token_id') as number } : {}),
  }, file);
}
