/**
 * Q5_K (block_q5_K): 256 weights in 8 sub-blocks of 32, 176 bytes: d, dmin (f16), 12 bytes of 6-bit
 * scales and mins, 32 bytes of fifth bits (qh; the 64 weights of chunk c use bits 2c and 2c + 1 of
 * byte j), 128 bytes of low nibbles laid out as Q4_K's. value = d * sc * q - dmin * m; 5.5 bits per weight.
 */
import { f } from './f32.js';
import { type GgmlBlockType, uniformEncoder, uniformLevels } from './block-type.js';
import { kAffineGrids, quantizeKAffine } from './k-affine.js';

const QH = 16, QS = 48;

export const Q5_K: GgmlBlockType = {
  name: 'Q5_K', id: 13, blockSize: 256, blockBytes: 176, subSize: 32, codeBits: 5,
  levels: uniformLevels(32, 0),
  encodeLevel: uniformEncoder(32, 0),
  quantize(x, xo, out, oo, importance) {
    const L = new Uint8Array(256);
    quantizeKAffine(x, xo, out, oo, L, { nmax: 31, rmin: f(-0.5), nstep: 15 }, importance);
    Q5_K.packCodes(L, out, oo);
  },
  grids: kAffineGrids,
  unpackCodes(block, bo, codes) {
    for (let c = 0; c < 4; c++)
      for (let j = 0; j < 32; j++) {
        const ql = block[bo + QS + 32 * c + j], qh = block[bo + QH + j];
        codes[64 * c + j] = (ql & 15) | (((qh >> (2 * c)) & 1) << 4);
        codes[64 * c + j + 32] = (ql >> 4) | (((qh >> (2 * c + 1)) & 1) << 4);
      }
  },
  packCodes(codes, block, bo) {
    block.fill(0, bo + QH, bo + QH + 32);
    for (let c = 0; c < 4; c++)
      for (let j = 0; j < 32; j++) {
        const l1 = codes[64 * c + j], l2 = codes[64 * c + j + 32];
        block[bo + QS + 32 * c + j] = (l1 & 15) | ((l2 & 15) << 4);
        block[bo + QH + j] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
      }
  },
};
