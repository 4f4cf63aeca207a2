/**
 * Q3_K (block_q3_K): 256 weights in 16 sub-blocks of 16, 110 bytes: 32 bytes of high bits (hmask:
 * weight j's third bit is bit j / 32 of byte j % 32), 64 bytes of 2-bit low codes (Q2_K's layout),
 * 12 bytes of 6-bit signed sub-block scales, d (f16). value = d * (sc - 32) * (q - 4); 3.4375 bits
 * per weight. Reference (quantize_row_q3_K_ref): make_q3_quants per sub-block, scales to 6 bits.
 * With an importance per weight (quantize_row_q3_K_impl): make_qx_quants weighted by
 * imp * sqrt(sigma^2 + x^2) per sub-block, and the 16 scales quantized by make_qx_quants weighted by
 * each sub-block's total weight.
 */
import { f, nearestInt } from './f32.js';
import { makeQ3Quants, makeQxQuants } from './search.js';
import { type GgmlBlockType, readF16, uniformEncoder, uniformLevels, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';
import { packCrumbs, unpackCrumbs } from './crumbs.js';

const HMASK = 0, QS = 32, SCALES = 96, D = 108;

/** 6-bit scale j of the 12-byte packing (low nibbles in bytes 0-7, top 2 bits in bytes 8-11). */
function scaleQ3(block: Uint8Array, bo: number, j: number): number {
  const s = bo + SCALES;
  const low = j < 8 ? block[s + j] & 0xf : block[s + j - 8] >> 4;
  return (low | (((block[s + 8 + (j % 4)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

/** Stores 6-bit scale j (already offset by 32) in the 12-byte packing. */
function packScaleQ3(out: Uint8Array, oo: number, j: number, l: number): void {
  if (j < 8) out[oo + SCALES + j] = l & 0xf;
  else out[oo + SCALES + j - 8] |= (l & 0xf) << 4;
  out[oo + SCALES + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
}

export const Q3_K: GgmlBlockType = {
  name: 'Q3_K', id: 11, blockSize: 256, blockBytes: 110, subSize: 16, codeBits: 3,
  levels: uniformLevels(8, 4),
  encodeLevel: uniformEncoder(8, 4),
  quantize(x, xo, out, oo, importance) {
    const L = new Int8Array(256), scales = new Float32Array(16);
    out.fill(0, oo + SCALES, oo + SCALES + 12);
    if (importance) {
      const weight = new Float32Array(16), sw = new Float32Array(16), ls = new Uint8Array(16);
      let sumX2 = 0;
      for (let j = 0; j < 256; j++) sumX2 = f(sumX2 + f(x[xo + j] * x[xo + j]));
      const sigma2 = f(f(2 * sumX2) / 256);
      for (let j = 0; j < 16; j++) {
        for (let l = 0; l < 16; l++) {
          const xi = x[xo + 16 * j + l];
          weight[l] = f(importance[16 * j + l] * f(Math.sqrt(f(sigma2 + f(xi * xi)))));
        }
        for (let l = 0; l < 16; l++) sw[j] = f(sw[j] + weight[l]);
        scales[j] = makeQxQuants(16, 4, x, xo + 16 * j, L, 16 * j, 1, weight);
      }
      const dBlock = makeQxQuants(16, 32, scales, 0, ls, 0, 1, sw);
      for (let j = 0; j < 16; j++) packScaleQ3(out, oo, j, ls[j]);
      writeF16Bits(out, oo + D, f16Bits(dBlock));
    } else {
      let maxScale = 0, amax = 0;
      for (let j = 0; j < 16; j++) {
        scales[j] = makeQ3Quants(16, 4, x, xo + 16 * j, L, 16 * j);
        const a = Math.abs(scales[j]);
        if (a > amax) { amax = a; maxScale = scales[j]; }
      }
      if (maxScale) {
        const iscale = f(-32 / maxScale);
        for (let j = 0; j < 16; j++) packScaleQ3(out, oo, j, Math.max(-32, Math.min(31, nearestInt(f(iscale * scales[j])))) + 32);
        writeF16Bits(out, oo + D, f16Bits(f(1 / iscale)));
      } else {
        writeF16Bits(out, oo + D, 0);
      }
    }
    const scale = new Float32Array(16), offset = new Float32Array(16);
    Q3_K.grids(out, oo, scale, offset);
    for (let j = 0; j < 16; j++) {
      const d = scale[j];
      if (!d) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(-4, Math.min(3, nearestInt(f(x[xo + 16 * j + i] / d)))) + 4;
    }
    Q3_K.packCodes(Uint8Array.from(L), out, oo);
  },
  grids(block, bo, scale, offset) {
    const d = readF16(block, bo + D);
    for (let j = 0; j < 16; j++) {
      scale[j] = f(d * scaleQ3(block, bo, j));
      offset[j] = 0;
    }
  },
  unpackCodes(block, bo, codes) {
    unpackCrumbs(block, bo + QS, codes);
    for (let j = 0; j < 256; j++) codes[j] |= ((block[bo + HMASK + (j & 31)] >> (j >> 5)) & 1) << 2;
  },
  packCodes(codes, block, bo) {
    block.fill(0, bo + HMASK, bo + HMASK + 32);
    for (let j = 0; j < 256; j++) block[bo + HMASK + (j & 31)] |= ((codes[j] >> 2) & 1) << (j >> 5);
    packCrumbs(codes, block, bo + QS);
  },
};
