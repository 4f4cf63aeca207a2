/**
 * Q5_1 (block_q5_1): 32 weights, f16 d and m, 4 bytes of fifth bits, 16 bytes of low nibbles.
 * value = d * q + m. Reference: d = (max - min) / 31, m = min, q = trunc((x - min) / d + 0.5).
 */
import { f } from './f32.js';
import { minMax } from './extremes.js';
import { type GgmlBlockType, readF16, uniformEncoder, uniformLevels, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';
import { pack5, unpack5 } from './nibbles.js';

export const Q5_1: GgmlBlockType = {
  name: 'Q5_1', id: 7, blockSize: 32, blockBytes: 24, subSize: 32, codeBits: 5,
  levels: uniformLevels(32, 0),
  encodeLevel: uniformEncoder(32, 0),
  quantize(x, xo, out, oo) {
    const [min, max] = minMax(x, xo, 32);
    const d = f(f(max - min) / 31), id = d ? f(1 / d) : 0;
    writeF16Bits(out, oo, f16Bits(d));
    writeF16Bits(out, oo + 2, f16Bits(min));
    const codes = new Uint8Array(32);
    // The reference casts to uint8_t without clamping; (x - min) / d + 0.5 never exceeds 31.5.
    for (let j = 0; j < 32; j++) codes[j] = Math.trunc(f(f(f(x[xo + j] - min) * id) + 0.5)) & 31;
    Q5_1.packCodes(codes, out, oo);
  },
  grids(block, bo, scale, offset) {
    scale[0] = readF16(block, bo);
    offset[0] = readF16(block, bo + 2);
  },
  unpackCodes: (block, bo, codes) => unpack5(block, bo + 4, bo + 8, codes),
  packCodes: (codes, block, bo) => pack5(codes, block, bo + 4, bo + 8),
};
