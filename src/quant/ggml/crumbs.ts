/**
 * The 2-bit layout of Q2_K's and Q3_K's low bits: each 128 weights as 32 bytes, weight
 * 32 k + l of the chunk in bits 2k..2k+1 of byte l.
 */
export function packCrumbs(codes: Uint8Array, out: Uint8Array, oo: number): void {
  for (let c = 0; c < 2; c++)
    for (let l = 0; l < 32; l++) {
      const b = 128 * c + l;
      out[oo + 32 * c + l] = (codes[b] & 3) | ((codes[b + 32] & 3) << 2) | ((codes[b + 64] & 3) << 4) | ((codes[b + 96] & 3) << 6);
    }
}

export function unpackCrumbs(src: Uint8Array, so: number, codes: Uint8Array): void {
  for (let c = 0; c < 2; c++)
    for (let l = 0; l < 32; l++) {
      const q = src[so + 32 * c + l];
      for (let k = 0; k < 4; k++) codes[128 * c + 32 * k + l] = (q >> (2 * k)) & 3;
    }
}
