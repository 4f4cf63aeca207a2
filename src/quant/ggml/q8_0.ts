/**
 * Q8_0 (block_q8_0): 32 weights, f16 d, 32 int8 codes. value = d * q. Reference: d = amax / 127,
 * q = roundf(x / d) (half away from zero). Codes are stored here as the int8's byte, so levels[c]
 * is c read as a signed byte.
 */
import { f } from './f32.js';
import { type GgmlBlockType, readF16, writeF16Bits } from './block-type.js';
import { f16Bits } from '../../io/float.js';

/** C's roundf: half away from zero. */
const roundf = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

export const Q8_0: GgmlBlockType = {
  name: 'Q8_0', id: 8, blockSize: 32, blockBytes: 34, subSize: 32, codeBits: 8,
  levels: Int8Array.from({ length: 256 }, (_, c) => (c << 24) >> 24),
  encodeLevel: (t) => Math.max(-128, Math.min(127, Math.round(t))) & 0xff,
  quantize(x, xo, out, oo) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
    const d = f(amax / 127), id = d ? f(1 / d) : 0;
    writeF16Bits(out, oo, f16Bits(d));
    for (let j = 0; j < 32; j++) out[oo + 2 + j] = roundf(f(x[xo + j] * id)) & 0xff;
  },
  grids(block, bo, scale, offset) {
    scale[0] = readF16(block, bo);
    offset[0] = 0;
  },
  unpackCodes: (block, bo, codes) => codes.set(block.subarray(bo + 2, bo + 34)),
  packCodes: (codes, block, bo) => block.set(codes.subarray(0, 32), bo + 2),
};
