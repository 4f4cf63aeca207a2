/**
 * Exact top-k selection by magnitude in O(n), for salient-weight sets of whole matrices (tens of
 * millions of entries, where sorting would dominate the quantization time). For non-negative
 * floats the IEEE bit pattern orders like the value, so the k-th largest |w| is found by a
 * two-pass radix select on the upper and lower 16 bits of |w|'s bits.
 */

import { native } from '../native/index.js';

/** Bit pattern of |x| for an f32 array viewed as u32. */
const ABS_MASK = 0x7fffffff;

/**
 * Marks exactly k entries of largest |w| (ties at the threshold broken by position) and returns
 * the threshold magnitude (the k-th largest |w|; Infinity when k = 0).
 */
export function topKByMagnitude(w: Float32Array, k: number, mask: Uint8Array): number {
  const n = w.length;
  if (native && k > 0 && k < n) return f32OfBits(native.topKByMagnitude(w, n, k, mask));
  return topKByMagnitudeTs(w, k, mask);
}

const f32OfBits = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];

/** topKByMagnitude in TypeScript: the definition src/native/quant.cc's top_k_by_magnitude is tested against. */
export function topKByMagnitudeTs(w: Float32Array, k: number, mask: Uint8Array): number {
  mask.fill(0);
  const n = w.length;
  if (k <= 0) return Infinity;
  if (k >= n) {
    mask.fill(1);
    return 0;
  }
  const bits = new Uint32Array(w.buffer, w.byteOffset, n);
  // Pass 1: histogram of the upper 16 bits; find the bucket holding the k-th largest.
  const hist = new Uint32Array(65536);
  for (let i = 0; i < n; i++) hist[(bits[i] & ABS_MASK) >>> 16]++;
  let above = 0, hi = 65535;
  while (above + hist[hi] < k) above += hist[hi--];
  // Pass 2: histogram of the lower 16 bits within that bucket.
  hist.fill(0);
  for (let i = 0; i < n; i++) {
    const b = bits[i] & ABS_MASK;
    if (b >>> 16 === hi) hist[b & 0xffff]++;
  }
  let lo = 65535;
  while (above + hist[lo] < k) above += hist[lo--];
  const t = ((hi << 16) | lo) >>> 0;
  // Everything strictly above t is in; then the first (k - above) entries equal to t.
  let ties = k - above;
  for (let i = 0; i < n; i++) {
    const b = (bits[i] & ABS_MASK) >>> 0;
    if (b > t) mask[i] = 1;
    else if (b === t && ties > 0) {
      mask[i] = 1;
      ties--;
    }
  }
  return f32OfBits(t);
}
