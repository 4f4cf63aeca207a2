/**
 * Q6_K (block_q6_K): 256 weights in 16 sub-blocks of 16, 210 bytes: 128 bytes of low nibbles, 64
 * bytes of high 2-bit pairs, 16 int8 sub-block scales, d (f16). value = d * sc * (q - 32); 6.5625
 * bits per weight. Reference (quantize_row_q6_K_ref): make_qx_quants weighted by x^2 per sub-block,
 * scales to int8 against d = -max scale / 128.
 * Layout per 128 weights (offsets ql 64 h, qh 32 h): ql[l] = q[l] | q[l + 64] << 4,
 * ql[l + 32] = q[l + 32] | q[l + 96] << 4, qh[l] = the top 2 bits of q[l], q[l + 32], q[l + 64], q[l + 96].
 */
import { f, nearestInt, GROUP_MAX_EPS } from './f32.js';
import { makeQxQuants } from './search.js';
import { type GgmlBlockType, readF16, uniformEncoder, uniformLevels, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';

const QL = 0, QH = 128, SC = 192, D = 208;

export const Q6_K: GgmlBlockType = {
  name: 'Q6_K', id: 14, blockSize: 256, blockBytes: 210, subSize: 16, codeBits: 6,
  levels: uniformLevels(64, 32),
  encodeLevel: uniformEncoder(64, 32),
  quantize(x, xo, out, oo, importance) {
    const L = new Uint8Array(256), scales = new Float32Array(16);
    let maxScale = 0, maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const s = makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib, 1, importance ? importance.subarray(16 * ib, 16 * ib + 16) : null);
      scales[ib] = s;
      if (Math.abs(s) > maxAbsScale) { maxAbsScale = Math.abs(s); maxScale = s; }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, oo, oo + 210);
      return;
    }
    const iscale = f(-128 / maxScale);
    writeF16Bits(out, oo + D, f16Bits(f(1 / iscale)));
    for (let ib = 0; ib < 16; ib++) out[oo + SC + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 0xff;
    const scale = new Float32Array(16), offset = new Float32Array(16);
    Q6_K.grids(out, oo, scale, offset);
    for (let j = 0; j < 16; j++) {
      const d = scale[j];
      if (!d) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(-32, Math.min(31, nearestInt(f(x[xo + 16 * j + i] / d)))) + 32;
    }
    Q6_K.packCodes(L, out, oo);
  },
  grids(block, bo, scale, offset) {
    const d = readF16(block, bo + D);
    for (let j = 0; j < 16; j++) {
      scale[j] = f(d * ((block[bo + SC + j] << 24) >> 24));
      offset[j] = 0;
    }
  },
  unpackCodes(block, bo, codes) {
    for (let h = 0; h < 2; h++)
      for (let l = 0; l < 32; l++) {
        const a = block[bo + QL + 64 * h + l], b = block[bo + QL + 64 * h + l + 32], qh = block[bo + QH + 32 * h + l], j = 128 * h + l;
        codes[j] = (a & 15) | ((qh & 3) << 4);
        codes[j + 32] = (b & 15) | (((qh >> 2) & 3) << 4);
        codes[j + 64] = (a >> 4) | (((qh >> 4) & 3) << 4);
        codes[j + 96] = (b >> 4) | (((qh >> 6) & 3) << 4);
      }
  },
  packCodes(codes, block, bo) {
    for (let h = 0; h < 2; h++)
      for (let l = 0; l < 32; l++) {
        const j = 128 * h + l;
        block[bo + QL + 64 * h + l] = (codes[j] & 15) | ((codes[j + 64] & 15) << 4);
        block[bo + QL + 64 * h + l + 32] = (codes[j + 32] & 15) | ((codes[j + 96] & 15) << 4);
        block[bo + QH + 32 * h + l] = (codes[j] >> 4) | ((codes[j + 32] >> 4) << 2) | ((codes[j + 64] >> 4) << 4) | ((codes[j + 96] >> 4) << 6);
      }
  },
};
