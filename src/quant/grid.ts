/**
 * Uniform b-bit grids, the building block of every quantizer here.
 *
 * A grid has a scale s and an integer zero z; code c in [0, 2^b - 1] stands for s * (c - z).
 *   - asymmetric (min/max): the range is widened to include 0 (as GPTQ's reference quantizer
 *     does, so z always lies in [0, 2^b - 1] and 0 is exactly representable):
 *       s = (max - min) / (2^b - 1),  z = round(-min / s)
 *   - symmetric: s = max|v| / (2^(b-1) - 1), z = 2^(b-1), i.e. levels -2^(b-1)..2^(b-1)-1 with
 *     the largest magnitude exactly on a level (QuaRot's weight quantizer; GPTQ's own symmetric
 *     mode instead uses s = 2 max|v| / (2^b - 1), which clips the positive extreme).
 * Scales are stored as f16, so they are rounded to f16 before the zero and the codes are
 * computed: what is evaluated is exactly what is saved.
 */
import { roundToF16 } from '../io/float.js';

export interface GridSpec {
  bits: number;
  symmetric: boolean;
}

export interface Grid {
  scale: number;
  zero: number;
}

export const maxCode = (bits: number): number => (1 << bits) - 1;

/** The smallest positive f16 (subnormal); scales never round below it. */
const MIN_SCALE = 2 ** -24;

function f16Scale(s: number): number {
  const r = roundToF16(s);
  return r > 0 ? r : MIN_SCALE;
}

/** Grid for values spanning [lo, hi] (with max |v| = absMax for symmetric grids). */
export function fitGrid(lo: number, hi: number, spec: GridSpec): Grid {
  const maxq = maxCode(spec.bits);
  if (spec.symmetric) {
    const half = 1 << (spec.bits - 1);
    const absMax = Math.max(Math.abs(lo), Math.abs(hi));
    return { scale: absMax > 0 ? f16Scale(absMax / Math.max(half - 1, 1)) : 1, zero: half };
  }
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  if (hi === lo) return { scale: 1, zero: 0 };
  const scale = f16Scale((hi - lo) / maxq);
  return { scale, zero: Math.min(maxq, Math.max(0, roundHalfEven(-lo / scale))) };
}

/** 1.5 * 2^52: adding and subtracting it rounds a double to an integer in the current (nearest-even) mode. */
const ROUNDER = 6755399441055744;

/**
 * Round half to even, as torch.round and numpy.round do (ties are common with bf16 weights).
 * Exact for |x| < 2^51 through the FPU's own rounding: x + 1.5*2^52 has no fraction bits left.
 */
export function roundHalfEven(x: number): number {
  return x + ROUNDER - ROUNDER;
}

/** Code of x on the grid (round to nearest, ties to even; clamp into range). */
export function encode(x: number, g: Grid, maxq: number): number {
  const c = roundHalfEven(x / g.scale) + g.zero;
  return c < 0 ? 0 : c > maxq ? maxq : c;
}

/** x rounded to the nearest value on the grid. */
export function roundToGrid(x: number, g: Grid, maxq: number): number {
  return g.scale * (encode(x, g, maxq) - g.zero);
}

/** Grid fitted to values v[start], v[start+stride], ... (count of them). */
export function fitGridTo(v: ArrayLike<number>, start: number, count: number, stride: number, spec: GridSpec): Grid {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0, p = start; i < count; i++, p += stride) {
    const x = v[p];
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return fitGrid(count ? lo : 0, count ? hi : 0, spec);
}
