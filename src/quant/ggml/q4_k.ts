/**
 * Q4_K (block_q4_K): 256 weights in 8 sub-blocks of 32, 144 bytes: d, dmin (f16), 12 bytes of 6-bit
 * scales and mins, 128 bytes of 4-bit codes (each 64 weights: the first 32 in low nibbles, the
 * next 32 in high nibbles). value = d * sc * q - dmin * m; 4.5 bits per weight.
 */
import { type GgmlBlockType, uniformEncoder, uniformLevels } from './block-type.js';
import { kAffineGrids, quantizeKAffine } from './k-affine.js';
import { packNibbles, unpackNibbles } from './nibbles.js';

const CODES = 16;

export const Q4_K: GgmlBlockType = {
  name: 'Q4_K', id: 12, blockSize: 256, blockBytes: 144, subSize: 32, codeBits: 4,
  levels: uniformLevels(16, 0),
  encodeLevel: uniformEncoder(16, 0),
  quantize(x, xo, out, oo, importance) {
    const L = new Uint8Array(256);
    quantizeKAffine(x, xo, out, oo, L, { nmax: 15, rmin: -1, nstep: 20 }, importance);
    Q4_K.packCodes(L, out, oo);
  },
  grids: kAffineGrids,
  unpackCodes(block, bo, codes) {
    for (let c = 0; c < 4; c++) unpackNibbles(block, bo + CODES + 32 * c, codes, 64 * c, 64);
  },
  packCodes(codes, block, bo) {
    for (let c = 0; c < 4; c++) packNibbles(codes, 64 * c, 64, block, bo + CODES + 32 * c);
  },
};
