/**
 * IQ4_NL (block_iq4_nl): 32 weights, f16 d, 16 bytes of nibbles (Q4_0's layout) indexing the
 * non-linear levels of iq4.ts. value = d * level[q]; 4.5 bits per weight.
 */
import { type GgmlBlockType, readF16 } from './block-type.js';
import { IQ4_LEVELS, encodeIq4, quantizeIq4 } from './iq4.js';
import { packNibbles, unpackNibbles } from './nibbles.js';

export const IQ4_NL: GgmlBlockType = {
  name: 'IQ4_NL', id: 20, blockSize: 32, blockBytes: 18, subSize: 32, codeBits: 4,
  levels: IQ4_LEVELS,
  encodeLevel: encodeIq4,
  quantize(x, xo, out, oo) {
    const L = new Uint8Array(32);
    quantizeIq4(32, x, xo, out, oo, L, null);
    packNibbles(L, 0, 32, out, oo + 2);
  },
  grids(block, bo, scale, offset) {
    scale[0] = readF16(block, bo);
    offset[0] = 0;
  },
  unpackCodes: (block, bo, codes) => unpackNibbles(block, bo + 2, codes, 0, 32),
  packCodes: (codes, block, bo) => packNibbles(codes, 0, 32, block, bo + 2),
};
