/**
 * Q2_K (block_q2_K): 256 weights in 16 sub-blocks of 16, 84 bytes: 16 bytes of 4-bit scale (low)
 * and min (high) per sub-block, 64 bytes of 2-bit codes, d and dmin (f16).
 * value = d * sc * q - dmin * m; 2.625 bits per weight. Reference (quantize_row_q2_K_ref):
 * make_qkx2_quants per sub-block weighted by |x| with mean absolute error, scales and mins to 4 bits.
 * With an importance per weight (quantize_row_q2_K_impl): weights imp * sqrt(sigma^2 + x^2),
 * make_qkx3_quants, and the scales and mins quantized by make_qp_quants.
 */
import { f, nearestInt } from './f32.js';
import { makeQkx2Quants, makeQkx3Quants, makeQpQuants } from './search.js';
import { type GgmlBlockType, readF16, uniformEncoder, uniformLevels, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';
import { packCrumbs, unpackCrumbs } from './crumbs.js';

const QS = 16, D = 80;

export const Q2_K: GgmlBlockType = {
  name: 'Q2_K', id: 10, blockSize: 256, blockBytes: 84, subSize: 16, codeBits: 2,
  levels: uniformLevels(4, 0),
  encodeLevel: uniformEncoder(4, 0),
  quantize(x, xo, out, oo, importance) {
    if (importance) return quantizeWeighted(x, xo, out, oo, importance);
    const L = new Uint8Array(256), Laux = new Uint8Array(16), weights = new Float32Array(16);
    const scales = new Float32Array(16), mins = new Float32Array(16);
    const q4scale = 15;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[xo + 16 * j + l]);
      const r = makeQkx2Quants(16, 3, x, xo + 16 * j, weights, L, 16 * j, Laux, f(-0.5), f(0.1), 15, true);
      scales[j] = r.scale;
      mins[j] = r.min;
      if (r.scale > maxScale) maxScale = r.scale;
      if (r.min > maxMin) maxMin = r.min;
    }
    if (maxScale > 0) {
      const iscale = f(q4scale / maxScale);
      for (let j = 0; j < 16; j++) out[oo + j] = nearestInt(f(iscale * scales[j])) & 0xff;
      writeF16Bits(out, oo + D, f16Bits(f(maxScale / q4scale)));
    } else {
      for (let j = 0; j < 16; j++) out[oo + j] = 0;
      writeF16Bits(out, oo + D, 0);
    }
    if (maxMin > 0) {
      const iscale = f(q4scale / maxMin);
      for (let j = 0; j < 16; j++) out[oo + j] |= (nearestInt(f(iscale * mins[j])) << 4) & 0xff;
      writeF16Bits(out, oo + D + 2, f16Bits(f(maxMin / q4scale)));
    } else {
      writeF16Bits(out, oo + D + 2, 0);
    }
    roundAndPack(x, xo, out, oo, L);
  },
  grids(block, bo, scale, offset) {
    const d = readF16(block, bo + D), dmin = readF16(block, bo + D + 2);
    for (let j = 0; j < 16; j++) {
      const sc = block[bo + j];
      scale[j] = f(d * (sc & 0xf));
      offset[j] = -f(dmin * (sc >> 4));
    }
  },
  unpackCodes: (block, bo, codes) => unpackCrumbs(block, bo + QS, codes),
  packCodes: (codes, block, bo) => packCrumbs(codes, block, bo + QS),
};

/** quantize_row_q2_K_impl with quant_weights = importance. */
function quantizeWeighted(x: Float32Array, xo: number, out: Uint8Array, oo: number, importance: Float32Array): void {
  const L = new Uint8Array(256), Laux = new Uint8Array(16), weights = new Float32Array(16), sw = new Float32Array(16);
  const scales = new Float32Array(16), mins = new Float32Array(16);
  let sumX2 = 0;
  for (let j = 0; j < 256; j++) sumX2 = f(sumX2 + f(x[xo + j] * x[xo + j]));
  const sigma2 = f(sumX2 / 256);
  for (let j = 0; j < 16; j++) {
    for (let l = 0; l < 16; l++) {
      const xi = x[xo + 16 * j + l];
      weights[l] = f(importance[16 * j + l] * f(Math.sqrt(f(sigma2 + f(xi * xi)))));
    }
    for (let l = 0; l < 16; l++) sw[j] = f(sw[j] + weights[l]);
    const r = makeQkx3Quants(16, 3, x, xo + 16 * j, weights, L, 16 * j, Laux, f(-0.9), f(0.05), 36, false);
    scales[j] = r.scale;
    mins[j] = r.min;
  }
  const ls = new Uint8Array(16), lm = new Uint8Array(16);
  const dm = makeQpQuants(16, 15, scales, ls, sw), mm = makeQpQuants(16, 15, mins, lm, sw);
  writeF16Bits(out, oo + D, f16Bits(dm));
  writeF16Bits(out, oo + D + 2, f16Bits(mm));
  for (let j = 0; j < 16; j++) out[oo + j] = ls[j] | (lm[j] << 4);
  roundAndPack(x, xo, out, oo, L);
}

/** Every weight rounded on the block's stored grid (zero-scale sub-blocks keep their codes), then packed. */
function roundAndPack(x: Float32Array, xo: number, out: Uint8Array, oo: number, L: Uint8Array): void {
  const scale = new Float32Array(16), offset = new Float32Array(16);
  Q2_K.grids(out, oo, scale, offset);
  for (let j = 0; j < 16; j++) {
    const d = scale[j];
    if (!d) continue;
    const dm = -offset[j];
    for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(0, Math.min(3, nearestInt(f(f(x[xo + 16 * j + i] + dm) / d))));
  }
  packCrumbs(L, out, oo + QS);
}
