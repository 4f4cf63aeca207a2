/**
 * Calibration windows: `samples` windows of `seqLen` consecutive tokens drawn at seeded random
 * positions of a tokenized text, as GPTQ's reference draws its C4/WikiText samples.
 */
import { LowbitError } from '../util/errors.js';

/** mulberry32: a small, good, seedable PRNG, so calibration is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CalibrationSpec {
  samples: number;
  seqLen: number;
  seed: number;
}

/** Token ids of the windows, concatenated: [samples * seqLen]. */
export function sampleWindows(tokens: Int32Array, spec: CalibrationSpec, source?: string): Int32Array {
  const { samples, seqLen } = spec;
  if (tokens.length < seqLen)
    throw new LowbitError(`calibration text has ${tokens.length} tokens, fewer than one window of --calib-seq-len ${seqLen}`, source);
  const rand = seededRandom(spec.seed);
  const out = new Int32Array(samples * seqLen);
  for (let s = 0; s < samples; s++) {
    const start = Math.floor(rand() * (tokens.length - seqLen + 1));
    out.set(tokens.subarray(start, start + seqLen), s * seqLen);
  }
  return out;
}
