/**
 * Next-token sampling from logits, as llama.cpp's and transformers' samplers do it: temperature 0
 * is greedy (argmax); otherwise the logits are divided by the temperature, cut to the top-k
 * tokens, then to the smallest set whose probability reaches top-p, renormalised, and one token is
 * drawn with a seeded generator, so a seed reproduces a generation.
 */
import { seededRandom } from '../calib/sample.js';

export interface SamplingOptions {
  /** 0: greedy. */
  temperature: number;
  /** Keep the k most likely tokens (0: all). */
  topK: number;
  /** Keep the most likely tokens up to this cumulative probability (1: all). */
  topP: number;
  seed: number;
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, seed: 0 };

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** A sampler with its own random stream. */
export function makeSampler(o: SamplingOptions): (logits: Float32Array) => number {
  const rand = seededRandom(o.seed);
  return (logits) => {
    if (o.temperature <= 0) return argmax(logits);
    let ids = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
    if (o.topK > 0) ids = ids.slice(0, o.topK);
    const max = logits[ids[0]];
    const p = ids.map((i) => Math.exp((logits[i] - max) / o.temperature));
    const total = p.reduce((a, b) => a + b, 0);
    let keep = ids.length, cum = 0;
    for (let i = 0; i < ids.length; i++) {
      cum += p[i] / total;
      if (cum >= o.topP) { keep = i + 1; break; }
    }
    const mass = p.slice(0, keep).reduce((a, b) => a + b, 0);
    let r = rand() * mass;
    for (let i = 0; i < keep; i++) if ((r -= p[i]) <= 0) return ids[i];
    return ids[keep - 1];
  };
}
