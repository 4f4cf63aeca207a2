/**
 * Q5_0 (block_q5_0): 32 weights, f16 d, 4 bytes of fifth bits (qh, bit j = weight j), 16 bytes of
 * low nibbles. value = d * (q - 16). Reference: d = max / -16, q = min(31, trunc(x / d + 16.5)).
 */
import { f } from './f32.js';
import { signedAbsMax } from './extremes.js';
import { type GgmlBlockType, readF16, uniformEncoder, uniformLevels, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';
import { pack5, unpack5 } from './nibbles.js';

export const Q5_0: GgmlBlockType = {
  name: 'Q5_0', id: 6, blockSize: 32, blockBytes: 22, subSize: 32, codeBits: 5,
  levels: uniformLevels(32, 16),
  encodeLevel: uniformEncoder(32, 16),
  quantize(x, xo, out, oo) {
    const [max] = signedAbsMax(x, xo, 32);
    const d = f(max / -16), id = d ? f(1 / d) : 0;
    writeF16Bits(out, oo, f16Bits(d));
    const codes = new Uint8Array(32);
    for (let j = 0; j < 32; j++) codes[j] = Math.min(31, Math.trunc(f(f(x[xo + j] * id) + 16.5)));
    Q5_0.packCodes(codes, out, oo);
  },
  grids(block, bo, scale, offset) {
    scale[0] = readF16(block, bo);
    offset[0] = 0;
  },
  unpackCodes: (block, bo, codes) => unpack5(block, bo + 2, bo + 6, codes),
  packCodes: (codes, block, bo) => pack5(codes, block, bo + 2, bo + 6),
};
