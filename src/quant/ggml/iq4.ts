/**
 * The non-linear 4-bit grid shared by IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl): 16 levels spaced
 * like a normal distribution's quantiles, and quantize_row_iq4_nl_impl, ported in f32: per
 * sub-block of 32 a scale searched over 2 ntry + 1 candidates by weighted least squares
 * (weights x^2 without an importance matrix); IQ4_XS then stores the sub-block scales as 6-bit
 * integers against one f16 super-scale.
 */
import { f, nearestInt, GROUP_MAX_EPS } from './f32.js';
import { signedAbsMax } from './extremes.js';
import { f16Bits } from '../../io/float.js';
import { writeF16Bits } from './block-type.js';

export const IQ4_LEVELS = Int8Array.from([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);

/** best_index_int8: the level nearest to x (ties to the upper one only when strictly nearer). */
export function bestIndexIq4(x: number): number {
  const v = IQ4_LEVELS;
  if (x <= v[0]) return 0;
  if (x >= v[15]) return 15;
  let ml = 0, mu = 15;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < v[mav]) mu = mav; else ml = mav;
  }
  return f(x - v[mu - 1]) < f(v[mu] - x) ? mu - 1 : mu;
}

/**
 * quantize_row_iq4_nl_impl without quant_weights, as llama-quantize calls it (ntry 7), for one
 * super-block of `superSize` weights (32: IQ4_NL; 256: IQ4_XS). Writes d (f16) at out[oo], the
 * IQ4_XS scales (when superSize > 32) into `xsScales` (6-bit, offset by 32), and the codes into L.
 */
export function quantizeIq4(superSize: number, x: Float32Array, xo: number, out: Uint8Array, oo: number, L: Uint8Array, xsScales: Uint8Array | null): void {
  const ntry = 7, nSub = superSize / 32;
  const scales = new Float32Array(nSub), weight = new Float32Array(32);
  writeF16Bits(out, oo, 0);
  let maxScale = 0, amaxScale = 0;
  for (let ib = 0; ib < nSub; ib++) {
    const xb = xo + 32 * ib;
    for (let j = 0; j < 32; j++) weight[j] = f(x[xb + j] * x[xb + j]);
    const [max, amax] = signedAbsMax(x, xb, 32);
    if (amax < GROUP_MAX_EPS) {
      scales[ib] = 0;
      continue;
    }
    let d = f(-max / IQ4_LEVELS[0]);
    let id = f(1 / d);
    let sumqx = 0, sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const l = bestIndexIq4(f(id * x[xb + j]));
      L[32 * ib + j] = l;
      const q = IQ4_LEVELS[l], w = weight[j];
      sumqx = f(sumqx + f(f(w * q) * x[xb + j]));
      sumq2 = f(sumq2 + f(f(w * q) * q));
    }
    d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
    let best = f(d * sumqx);
    for (let itry = -ntry; itry <= ntry; itry++) {
      id = f((itry + IQ4_LEVELS[0]) / max);
      sumqx = sumq2 = 0;
      for (let j = 0; j < 32; j++) {
        const q = IQ4_LEVELS[bestIndexIq4(f(id * x[xb + j]))], w = weight[j];
        sumqx = f(sumqx + f(f(w * q) * x[xb + j]));
        sumq2 = f(sumq2 + f(f(w * q) * q));
      }
      if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
        d = f(sumqx / sumq2);
        best = f(d * sumqx);
      }
    }
    scales[ib] = d;
    if (Math.abs(d) > amaxScale) { amaxScale = Math.abs(d); maxScale = d; }
  }
  if (nSub > 1) {
    const d = f(-maxScale / 32);
    writeF16Bits(out, oo, f16Bits(d));
    const id = d ? f(1 / d) : 0;
    for (let ib = 0; ib < nSub; ib++) {
      const l = Math.max(-32, Math.min(31, nearestInt(f(id * scales[ib]))));
      const dl = f(d * l), idl = dl ? f(1 / dl) : 0;
      for (let j = 0; j < 32; j++) L[32 * ib + j] = bestIndexIq4(f(idl * x[xo + 32 * ib + j]));
      xsScales![ib] = l + 32;
    }
  } else {
    writeF16Bits(out, oo, f16Bits(scales[0]));
    const id = scales[0] ? f(1 / scales[0]) : 0;
    for (let j = 0; j < 32; j++) L[j] = bestIndexIq4(f(id * x[xo + j]));
  }
}

/** Nearest level of t, for the solvers. */
export function encodeIq4(t: number): number {
  return bestIndexIq4(t);
}
