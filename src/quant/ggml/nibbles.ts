/**
 * The nibble layout shared by most ggml types: n codes as n/2 bytes, code j in the low nibble of
 * byte j and code j + n/2 in the high nibble (block_q4_0's qs; each 64-weight half of a Q4_K block).
 */
export function packNibbles(codes: Uint8Array, co: number, n: number, out: Uint8Array, oo: number): void {
  const h = n >> 1;
  for (let j = 0; j < h; j++) out[oo + j] = (codes[co + j] & 15) | ((codes[co + j + h] & 15) << 4);
}

export function unpackNibbles(src: Uint8Array, so: number, codes: Uint8Array, co: number, n: number): void {
  const h = n >> 1;
  for (let j = 0; j < h; j++) {
    codes[co + j] = src[so + j] & 15;
    codes[co + j + h] = src[so + j] >> 4;
  }
}

/** Fifth bits of 32 codes as a little-endian u32 (block_q5_0's qh): bit j is code j's bit 4. */
export function packHighBits(codes: Uint8Array, out: Uint8Array, oo: number): void {
  let qh = 0;
  for (let j = 0; j < 32; j++) qh |= ((codes[j] >> 4) & 1) << j;
  out[oo] = qh & 0xff;
  out[oo + 1] = (qh >>> 8) & 0xff;
  out[oo + 2] = (qh >>> 16) & 0xff;
  out[oo + 3] = qh >>> 24;
}

export function unpackHighBits(src: Uint8Array, so: number, codes: Uint8Array): void {
  const qh = src[so] | (src[so + 1] << 8) | (src[so + 2] << 16) | (src[so + 3] << 24);
  for (let j = 0; j < 32; j++) codes[j] |= ((qh >>> j) & 1) << 4;
}

/** Q5_0/Q5_1's 32 five-bit codes: fifth bits at `qh`, low nibbles at `qs`. */
export function pack5(codes: Uint8Array, block: Uint8Array, qh: number, qs: number): void {
  packHighBits(codes, block, qh);
  packNibbles(codes, 0, 32, block, qs);
}

export function unpack5(block: Uint8Array, qh: number, qs: number, codes: Uint8Array): void {
  unpackNibbles(block, qs, codes, 0, 32);
  unpackHighBits(block, qh, codes);
}
