/**
 * Rotary position embedding tables, computed the way Hugging Face transformers computes them
 * (inverse frequencies and angles rounded to f32 at the same steps), so logits match to f32
 * precision even at positions where the angle's f32 rounding is visible.
 */
import type { ModelConfig } from './config.js';

const f = Math.fround;

/**
 * inv_freq[i] = 1 / theta^(2i/d), then the config's scaling rule. `seqLen` matters to LongRoPE only
 * (its long factors apply past the original context).
 */
export function inverseFrequencies(cfg: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>, seqLen = 0): Float32Array {
  const half = cfg.headDim / 2;
  const inv = new Float32Array(half);
  const s = cfg.ropeScaling;
  if (s.type === 'longrope') {
    // 1 / (ext * theta^(2i/d)) in f32, ext the short or long factors (transformers' longrope).
    const ext = seqLen > s.originalMaxPositions ? s.long : s.short;
    for (let i = 0; i < half; i++) inv[i] = f(1 / f(f(ext[i]) * f(Math.pow(cfg.ropeTheta, f((2 * i) / cfg.headDim)))));
    return inv;
  }
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(Math.pow(cfg.ropeTheta, f((2 * i) / cfg.headDim))));
  if (s.type === 'linear') for (let i = 0; i < half; i++) inv[i] = f(inv[i] / s.factor);
  if (s.type === 'freq-factors') for (let i = 0; i < half; i++) inv[i] = f(inv[i] / s.factors[i]);
  if (s.type === 'llama3') {
    // Llama 3.1: low frequencies are divided by `factor`, high ones kept, the band between blended.
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      let v = wavelen > lowWavelen ? inv[i] / s.factor : inv[i];
      if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        v = ((1 - smooth) * v) / s.factor + smooth * v;
      }
      inv[i] = f(v);
    }
  }
  return inv;
}

/** cos and sin of position * inv_freq for positions 0..seqLen-1: two [seqLen, headDim/2] tables. */
export function ropeTables(cfg: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>, seqLen: number): { cos: Float32Array; sin: Float32Array } {
  const inv = inverseFrequencies(cfg, seqLen);
  const half = inv.length;
  // LongRoPE scales cos and sin (f32 products, as transformers multiplies them).
  const scale = cfg.ropeScaling.type === 'longrope' ? f(cfg.ropeScaling.attentionFactor) : 1;
  const cos = new Float32Array(seqLen * half), sin = new Float32Array(seqLen * half);
  for (let p = 0; p < seqLen; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f(p * inv[i]);
      cos[p * half + i] = scale === 1 ? Math.cos(angle) : f(f(Math.cos(angle)) * scale);
      sin[p * half + i] = scale === 1 ? Math.sin(angle) : f(f(Math.sin(angle)) * scale);
    }
  }
  return { cos, sin };
}
