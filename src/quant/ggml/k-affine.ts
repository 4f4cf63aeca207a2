/**
 * The shared reference quantizer of Q4_K and Q5_K (quantize_row_q4_K_ref / q5_K_ref): eight
 * sub-blocks of 32 with an affine grid each (make_qkx2_quants weighted by av|x| + |x|), their
 * scales and mins rounded to 6 bits against f16 super-scales d = max scale / 63 and
 * dmin = max min / 63, then every weight rounded on the stored grid:
 *     value = d * sc * q - dmin * m.
 * Block layout: d (f16), dmin (f16), 12 bytes of packed scales/mins, then the codes.
 *
 * With an importance per weight (llama.cpp's imatrix: the mean square of each input; lowbit's
 * calibrated methods give diag(H)), it is quantize_row_q4_K_impl / q5_K_impl instead: weights
 * imp * sqrt(sigma^2 + x^2), make_qkx3_quants, and the sub-block scales and mins quantized by
 * make_qp_quants weighted by each sub-block's total weight.
 */
import { f, nearestInt } from './f32.js';
import { makeQkx2Quants, makeQkx3Quants, makeQpQuants } from './search.js';
import { readF16, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';
import { packScaleMinK4, scaleMinK4 } from './k-scales.js';

export interface KAffineParams {
  nmax: number;
  rmin: number;
  nstep: number;
}

/** Fits the header of one 256-weight block into out[oo..oo+16) and its codes into L. */
export function quantizeKAffine(x: Float32Array, xo: number, out: Uint8Array, oo: number, L: Uint8Array, p: KAffineParams, importance: Float32Array | null = null): void {
  if (importance) return quantizeKAffineWeighted(x, xo, out, oo, L, p.nmax, importance);
  const weights = new Float32Array(32), Laux = new Uint8Array(32);
  const scales = new Float32Array(8), mins = new Float32Array(8);
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[xo + 32 * j + l]);
    const r = makeQkx2Quants(32, p.nmax, x, xo + 32 * j, weights, L, 32 * j, Laux, p.rmin, f(0.1), p.nstep, false);
    scales[j] = r.scale;
    mins[j] = r.min;
    if (r.scale > maxScale) maxScale = r.scale;
    if (r.min > maxMin) maxMin = r.min;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0, invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const ls = new Uint8Array(8), lm = new Uint8Array(8);
  for (let j = 0; j < 8; j++) {
    ls[j] = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
    lm[j] = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
  }
  writeF16Bits(out, oo, f16Bits(f(maxScale / 63)));
  writeF16Bits(out, oo + 2, f16Bits(f(maxMin / 63)));
  packScaleMinK4(ls, lm, out, oo + 4);
  roundOnStoredGrid(x, xo, out, oo, L, p.nmax);
}

/** quantize_row_q4_K_impl / q5_K_impl with quant_weights = importance (see the file comment). */
function quantizeKAffineWeighted(x: Float32Array, xo: number, out: Uint8Array, oo: number, L: Uint8Array, nmax: number, importance: Float32Array): void {
  const weights = new Float32Array(32), Laux = new Uint8Array(32), sw = new Float32Array(8);
  const scales = new Float32Array(8), mins = new Float32Array(8);
  let sumX2 = 0;
  for (let l = 0; l < 256; l++) sumX2 = f(sumX2 + f(x[xo + l] * x[xo + l]));
  const sigma2 = f(f(2 * sumX2) / 256);
  for (let j = 0; j < 8; j++) {
    for (let l = 0; l < 32; l++) {
      const xi = x[xo + 32 * j + l];
      weights[l] = f(importance[32 * j + l] * f(Math.sqrt(f(sigma2 + f(xi * xi)))));
    }
    let sumW = 0;
    for (let l = 0; l < 32; l++) sumW = f(sumW + weights[l]);
    sw[j] = sumW;
    const r = makeQkx3Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, Laux, f(-0.9), f(0.05), 36, false);
    scales[j] = r.scale;
    mins[j] = r.min;
  }
  const ls = new Uint8Array(8), lm = new Uint8Array(8);
  const dBlock = makeQpQuants(8, 63, scales, ls, sw), mBlock = makeQpQuants(8, 63, mins, lm, sw);
  for (let j = 0; j < 8; j++) { ls[j] = Math.min(63, ls[j]); lm[j] = Math.min(63, lm[j]); }
  writeF16Bits(out, oo, f16Bits(dBlock));
  writeF16Bits(out, oo + 2, f16Bits(mBlock));
  packScaleMinK4(ls, lm, out, oo + 4);
  roundOnStoredGrid(x, xo, out, oo, L, nmax);
}

/** Every weight rounded on the block's stored grid (sub-blocks with a zero scale keep their codes). */
function roundOnStoredGrid(x: Float32Array, xo: number, out: Uint8Array, oo: number, L: Uint8Array, nmax: number): void {
  const scale = new Float32Array(8), offset = new Float32Array(8);
  kAffineGrids(out, oo, scale, offset);
  for (let j = 0; j < 8; j++) {
    const d = scale[j];
    if (!d) continue;
    const dm = -offset[j];
    for (let i = 0; i < 32; i++) L[32 * j + i] = Math.max(0, Math.min(nmax, nearestInt(f(f(x[xo + 32 * j + i] + dm) / d))));
  }
}

/** Sub-block j: scale = d * sc_j, offset = -(dmin * m_j), as dequantize_row_q4_K computes them. */
export function kAffineGrids(block: Uint8Array, bo: number, scale: Float32Array, offset: Float32Array): void {
  const d = readF16(block, bo), dmin = readF16(block, bo + 2);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, block, bo + 4);
    scale[j] = f(d * sc);
    offset[j] = -f(dmin * m);
  }
}
