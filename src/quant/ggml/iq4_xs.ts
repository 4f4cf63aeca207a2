/**
 * IQ4_XS (block_iq4_xs): 256 weights in 8 sub-blocks of 32, 136 bytes: d (f16), scales_h (u16: the
 * top 2 bits of each 6-bit sub-block scale), scales_l (4 bytes: low nibbles), 128 bytes of codes
 * (each sub-block of 32 as IQ4_NL's 16 nibble bytes). value = d * (ls - 32) * level[q]; 4.25 bits per weight.
 */
import { f } from './f32.js';
import { type GgmlBlockType, readF16 } from './block-type.js';
import { IQ4_LEVELS, encodeIq4, quantizeIq4 } from './iq4.js';
import { packNibbles, unpackNibbles } from './nibbles.js';

const SCALES_H = 2, SCALES_L = 4, QS = 8;

export const IQ4_XS: GgmlBlockType = {
  name: 'IQ4_XS', id: 23, blockSize: 256, blockBytes: 136, subSize: 32, codeBits: 4,
  levels: IQ4_LEVELS,
  encodeLevel: encodeIq4,
  quantize(x, xo, out, oo) {
    const L = new Uint8Array(256), ls = new Uint8Array(8);
    quantizeIq4(256, x, xo, out, oo, L, ls);
    let h = 0;
    for (let ib = 0; ib < 8; ib++) h |= (ls[ib] >> 4) << (2 * ib);
    out[oo + SCALES_H] = h & 0xff;
    out[oo + SCALES_H + 1] = h >> 8;
    for (let k = 0; k < 4; k++) out[oo + SCALES_L + k] = (ls[2 * k] & 0xf) | ((ls[2 * k + 1] & 0xf) << 4);
    IQ4_XS.packCodes(L, out, oo);
  },
  grids(block, bo, scale, offset) {
    const d = readF16(block, bo), h = block[bo + SCALES_H] | (block[bo + SCALES_H + 1] << 8);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((block[bo + SCALES_L + (ib >> 1)] >> (4 * (ib & 1))) & 0xf) | (((h >> (2 * ib)) & 3) << 4);
      scale[ib] = f(d * (ls - 32));
      offset[ib] = 0;
    }
  },
  unpackCodes(block, bo, codes) {
    for (let ib = 0; ib < 8; ib++) unpackNibbles(block, bo + QS + 16 * ib, codes, 32 * ib, 32);
  },
  packCodes(codes, block, bo) {
    for (let ib = 0; ib < 8; ib++) packNibbles(codes, 32 * ib, 32, block, bo + QS + 16 * ib);
  },
};
