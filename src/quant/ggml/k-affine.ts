/**
 * The shared reference quantizer of Q4_K and Q5_K (quantize_row_q4_K_ref / q5_K_ref): eight
 * sub-blocks of 32 with an affine grid each (make_qkx2_quants weighted by av|x| + |x|), their
 * scales and mins rounded to 6 bits against f16 super-scales d = max scale / 63 and
 * dmin = max min / 63, then every weight rounded on the stored grid:
 *     value = d * sc * q - dmin * m.
 * Block layout: d (f16), dmin (f16), 12 bytes of packed scales/mins, then the codes.
 */
import { f, nearestInt } from './f32.js';
import { makeQkx2Quants } from './search.js';
import { readF16, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';
import { packScaleMinK4, scaleMinK4 } from './k-scales.js';

export interface KAffineParams {
  nmax: number;
  rmin: number;
  nstep: number;
}

/** Fits the header of one 256-weight block into out[oo..oo+16) and its codes into L. */
export function quantizeKAffine(x: Float32Array, xo: number, out: Uint8Array, oo: number, L: Uint8Array, p: KAffineParams): void {
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
  const scale = new Float32Array(8), offset = new Float32Array(8);
  kAffineGrids(out, oo, scale, offset);
  for (let j = 0; j < 8; j++) {
    const d = scale[j];
    if (!d) continue;
    const dm = -offset[j];
    for (let i = 0; i < 32; i++) L[32 * j + i] = Math.max(0, Math.min(p.nmax, nearestInt(f(f(x[xo + 32 * j + i] + dm) / d))));
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
