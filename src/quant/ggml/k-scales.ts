/**
 * The 12-byte scale/min packing of Q4_K and Q5_K (ggml's get_scale_min_k4): eight 6-bit scales
 * and eight 6-bit mins. Sub-blocks 0-3 keep theirs in the low 6 bits of bytes j and j + 4; 4-7
 * put the low 4 bits in byte j + 4 (scale low nibble, min high nibble) and the top 2 bits in the
 * top bits of bytes j - 4 (scale) and j (min).
 */
export function packScaleMinK4(ls: Uint8Array, lm: Uint8Array, out: Uint8Array, oo: number): void {
  for (let j = 0; j < 12; j++) out[oo + j] = 0;
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      out[oo + j] = ls[j];
      out[oo + j + 4] = lm[j];
    } else {
      out[oo + j + 4] = (ls[j] & 0xf) | ((lm[j] & 0xf) << 4);
      out[oo + j - 4] |= (ls[j] >> 4) << 6;
      out[oo + j] |= (lm[j] >> 4) << 6;
    }
  }
}

/** Scale and min of sub-block j. */
export function scaleMinK4(j: number, q: Uint8Array, qo: number): [number, number] {
  if (j < 4) return [q[qo + j] & 63, q[qo + j + 4] & 63];
  return [(q[qo + j + 4] & 0xf) | ((q[qo + j - 4] >> 6) << 4), (q[qo + j + 4] >> 4) | ((q[qo + j] >> 6) << 4)];
}
