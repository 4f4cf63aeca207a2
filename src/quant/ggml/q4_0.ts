/**
 * Q4_0 (ggml-common.h block_q4_0): 32 weights, f16 d, 16 bytes of nibbles (weight j low, j + 16
 * high). value = d * (q - 8). Reference quantizer (quantize_row_q4_0_ref): d = max / -8 where max
 * is the signed value of largest |x|, q = min(15, trunc(x / d + 8.5)) with the unrounded 1/d.
 */
import { f } from './f32.js';
import { signedAbsMax } from './extremes.js';
import { type GgmlBlockType, readF16, uniformEncoder, uniformLevels, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';
import { packNibbles, unpackNibbles } from './nibbles.js';

export const Q4_0: GgmlBlockType = {
  name: 'Q4_0', id: 2, blockSize: 32, blockBytes: 18, subSize: 32, codeBits: 4,
  levels: uniformLevels(16, 8),
  encodeLevel: uniformEncoder(16, 8),
  quantize(x, xo, out, oo) {
    const [max] = signedAbsMax(x, xo, 32);
    const d = f(max / -8), id = d ? f(1 / d) : 0;
    writeF16Bits(out, oo, f16Bits(d));
    const codes = new Uint8Array(32);
    for (let j = 0; j < 32; j++) codes[j] = Math.min(15, Math.trunc(f(f(x[xo + j] * id) + 8.5)));
    packNibbles(codes, 0, 32, out, oo + 2);
  },
  grids(block, bo, scale, offset) {
    scale[0] = readF16(block, bo);
    offset[0] = 0;
  },
  unpackCodes: (block, bo, codes) => unpackNibbles(block, bo + 2, codes, 0, 32),
  packCodes: (codes, block, bo) => packNibbles(codes, 0, 32, block, bo + 2),
};
