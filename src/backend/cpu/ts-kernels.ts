/**
 * Plain-TypeScript versions of the kernels the native addon accelerates (attention, NLL, SiLU
 * gating). They are the fallback when the addon is not built, and the reference it is tested
 * against, so they favour obviousness over speed.
 */
import type { ActQuantSpec, AttentionShape, CachedAttentionShape } from '../backend.js';
import { roundHalfEven } from '../../quant/grid.js';

export function attentionTs(q: Float32Array, k: Float32Array, v: Float32Array, s: AttentionShape): Float32Array {
  const { batch, seqLen: T, heads, kvHeads, headDim: hd } = s;
  const window = s.window ?? 0;
  const group = heads / kvHeads, ldq = heads * hd, ldk = kvHeads * hd;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float32Array(batch * T * ldq);
  const scores = new Float64Array(T);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < T; i++) {
        const qo = (b * T + i) * ldq + h * hd;
        const lo = window > 0 ? Math.max(0, i - window + 1) : 0;
        let max = -Infinity;
        for (let j = lo; j <= i; j++) {
          const ko = (b * T + j) * ldk + g * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qo + d] * k[ko + d];
          scores[j] = dot * scale;
          if (scores[j] > max) max = scores[j];
        }
        let sum = 0;
        for (let j = lo; j <= i; j++) sum += (scores[j] = Math.exp(scores[j] - max));
        for (let j = lo; j <= i; j++) {
          const p = scores[j] / sum, vo = (b * T + j) * ldk + g * hd;
          for (let d = 0; d < hd; d++) out[qo + d] += p * v[vo + d];
        }
      }
    }
  }
  return out;
}

export function nllTs(logits: Float32Array, vocab: number, targets: Int32Array): Float32Array {
  const out = new Float32Array(targets.length);
  for (let i = 0; i < targets.length; i++) {
    const o = i * vocab;
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) if (logits[o + j] > max) max = logits[o + j];
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[o + j] - max);
    out[i] = max + Math.log(sum) - logits[o + targets[i]];
  }
  return out;
}

export function siluMulTs(gate: Float32Array, up: Float32Array): Float32Array {
  const out = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) out[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return out;
}

/** Per-row fake quantization (QuaRot's ActQuantizer; see ActQuantSpec). */
export function actQuantTs(x: Float32Array, width: number, spec: ActQuantSpec): Float32Array {
  const out = new Float32Array(x.length);
  const rows = x.length / width;
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let lo = 0, hi = 0;
    for (let j = 0; j < width; j++) {
      const v = x[o + j];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    let scale: number, zero: number, qmin: number, qmax: number;
    if (spec.symmetric) {
      qmax = 2 ** (spec.bits - 1) - 1;
      qmin = -qmax - 1;
      scale = (spec.clipRatio * Math.max(-lo, hi)) / qmax;
      zero = 0;
    } else {
      qmin = 0;
      qmax = 2 ** spec.bits - 1;
      scale = (spec.clipRatio * (hi - lo)) / qmax;
      zero = scale > 0 ? roundHalfEven((-spec.clipRatio * lo) / scale) : 0;
    }
    if (!(scale > 0)) {
      out.set(x.subarray(o, o + width), o); // an all-zero row stays zero
      continue;
    }
    for (let j = 0; j < width; j++) {
      let q = roundHalfEven(x[o + j] / scale) + zero;
      q = q < qmin ? qmin : q > qmax ? qmax : q;
      out[o + j] = scale * (q - zero);
    }
  }
  return out;
}

/** Causal attention of n queries at positions past.. over past + n cached keys/values (one sequence). */
export function attendCachedTs(q: Float32Array, k: Float32Array, v: Float32Array, s: CachedAttentionShape): Float32Array {
  const { heads, kvHeads, headDim: hd, past } = s;
  const window = s.window ?? 0;
  const group = heads / kvHeads, ldq = heads * hd, ldk = kvHeads * hd, n = q.length / ldq;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float32Array(q.length);
  const scores = new Float64Array(past + n);
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    for (let i = 0; i < n; i++) {
      const pos = past + i, qo = i * ldq + h * hd;
      const lo = window > 0 ? Math.max(0, pos - window + 1) : 0;
      let max = -Infinity;
      for (let j = lo; j <= pos; j++) {
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += q[qo + d] * k[j * ldk + g * hd + d];
        scores[j] = dot * scale;
        if (scores[j] > max) max = scores[j];
      }
      let sum = 0;
      for (let j = lo; j <= pos; j++) sum += (scores[j] = Math.exp(scores[j] - max));
      for (let j = lo; j <= pos; j++) {
        const p = scores[j] / sum, vo = j * ldk + g * hd;
        for (let d = 0; d < hd; d++) out[qo + d] += p * v[vo + d];
      }
    }
  }
  return out;
}

/**
 * Top-k routing of each row of expert logits [rows, experts] (transformers' Mixtral): softmax in
 * f64, the topK largest probabilities (ties to the lower index) renormalised to sum 1, the rest 0.
 */
export function routeTopKTs(logits: Float32Array, rows: number, experts: number, topK: number): Float32Array {
  const out = new Float32Array(rows * experts), p = new Float64Array(experts), chosen = new Uint8Array(experts);
  for (let r = 0; r < rows; r++) {
    const o = r * experts;
    let max = -Infinity;
    for (let e = 0; e < experts; e++) max = Math.max(max, logits[o + e]);
    let sum = 0;
    for (let e = 0; e < experts; e++) sum += (p[e] = Math.exp(logits[o + e] - max));
    chosen.fill(0);
    let kept = 0;
    for (let k = 0; k < topK; k++) {
      let best = -1;
      for (let e = 0; e < experts; e++) if (!chosen[e] && (best < 0 || p[e] > p[best])) best = e;
      chosen[best] = 1;
      kept += p[best] / sum;
    }
    for (let e = 0; e < experts; e++) if (chosen[e]) out[o + e] = p[e] / sum / kept;
  }
  return out;
}
