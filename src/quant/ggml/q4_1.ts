/**
 * Q4_1 (block_q4_1): 32 weights, f16 d and m, 16 bytes of nibbles. value = d * q + m.
 * Reference: d = (max - min) / 15, m = min, q = min(15, trunc((x - min) / d + 0.5)).
 */
import { f } from './f32.js';
import { minMax } from './extremes.js';
import { type GgmlBlockType, readF16, uniformEncoder, uniformLevels, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';
import { packNibbles, unpackNibbles } from './nibbles.js';

export const Q4_1: GgmlBlockType = {
  name: 'Q4_1', id: 3, blockSize: 32, blockBytes: 20, subSize: 32, codeBits: 4,
  levels: uniformLevels(16, 0),
  encodeLevel: uniformEncoder(16, 0),
  quantize(x, xo, out, oo) {
    const [min, max] = minMax(x, xo, 32);
    const d = f(f(max - min) / 15), id = d ? f(1 / d) : 0;
    writeF16Bits(out, oo, f16Bits(d));
    writeF16Bits(out, oo + 2, f16Bits(min));
    const codes = new Uint8Array(32);
    for (let j = 0; j < 32; j++) codes[j] = Math.min(15, Math.trunc(f(f(f(x[xo + j] - min) * id) + 0.5)));
    packNibbles(codes, 0, 32, out, oo + 4);
  },
  grids(block, bo, scale, offset) {
    scale[0] = readF16(block, bo);
    offset[0] = readF16(block, bo + 2);
  },
  unpackCodes: (block, bo, codes) => unpackNibbles(block, bo + 4, codes, 0, 32),
  packCodes: (codes, block, bo) => packNibbles(codes, 0, 32, block, bo + 4),
};
