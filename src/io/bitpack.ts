/**
 * Bit-packing of small non-negative integers (codes, zero points, group indices, positions): n
 * values of `width` bits as one little-endian bit stream, value i in bits [i*width, (i+1)*width),
 * least significant bit first. This is how lowbit's format v2 stores integer tensors, so a file's
 * size matches the bits per weight it reports.
 */

import { native } from '../native/index.js';

/** Bits needed for the largest value (at least 1). */
export function bitsFor(max: number): number {
  let w = 1;
  while (w < 32 && max >= 2 ** w) w++;
  return w;
}

export function packedBytes(count: number, width: number): number {
  return Math.ceil((count * width) / 8);
}

/**
 * Packs `values` (each below 2^width) into the bit stream. Widths up to 24 bits, which is every
 * code, zero point and group index in practice, go through a 32-bit accumulator that emits whole
 * bytes; wider ones bit-field by bit-field.
 */
export function packBits(values: ArrayLike<number>, width: number): Uint8Array {
  if (native && values instanceof Uint8Array && width <= 8 && values.length >= NATIVE_MIN) {
    const out = new Uint8Array(packedBytes(values.length, width));
    native.packBitsU8(values, values.length, width, out); // src/native/bitpack.cc: the same stream
    return out;
  }
  return packBitsTs(values, width);
}

/** packBits in TypeScript: the definition the native kernel is tested against. */
export function packBitsTs(values: ArrayLike<number>, width: number): Uint8Array {
  const out = new Uint8Array(packedBytes(values.length, width));
  if (width > 24) return packFields(values, width, out);
  let acc = 0, held = 0, o = 0;
  for (let i = 0; i < values.length; i++) {
    acc |= values[i] << held; // held < 8 and width <= 24: the accumulator stays within 31 bits
    held += width;
    while (held >= 8) {
      out[o++] = acc & 0xff;
      acc >>>= 8;
      held -= 8;
    }
  }
  if (held > 0) out[o] = acc & 0xff;
  return out;
}

/** Below this many values the call into the addon costs more than the loop. */
const NATIVE_MIN = 1 << 12;

/** The largest of a tensor's bytes (the width it packs at), natively for large arrays. */
export function maxByte(values: Uint8Array): number {
  if (native && values.length >= NATIVE_MIN) return native.maxU8(values, values.length);
  let max = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  return max;
}

function packFields(values: ArrayLike<number>, width: number, out: Uint8Array): Uint8Array {
  let bit = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    for (let left = width; left > 0; ) {
      const at = bit >> 3, off = bit & 7, take = Math.min(left, 8 - off);
      out[at] |= (v & ((1 << take) - 1)) << off;
      v = Math.floor(v / 2 ** take);
      bit += take;
      left -= take;
    }
  }
  return out;
}

export function unpackBits(bytes: Uint8Array, width: number, count: number, out: Uint8Array | Int32Array): Uint8Array | Int32Array {
  if (bytes.length < packedBytes(count, width)) throw new Error(`packed tensor has ${bytes.length} bytes, ${count} values of ${width} bits need ${packedBytes(count, width)}`);
  if (width > 24) return unpackFields(bytes, width, count, out);
  const mask = (1 << width) - 1;
  let acc = 0, held = 0, b = 0;
  for (let i = 0; i < count; i++) {
    while (held < width) {
      acc |= bytes[b++] << held;
      held += 8;
    }
    out[i] = acc & mask;
    acc >>>= width;
    held -= width;
  }
  return out;
}

function unpackFields(bytes: Uint8Array, width: number, count: number, out: Uint8Array | Int32Array): Uint8Array | Int32Array {
  let bit = 0;
  for (let i = 0; i < count; i++) {
    let v = 0, got = 0;
    while (got < width) {
      const at = bit >> 3, off = bit & 7, take = Math.min(width - got, 8 - off);
      v += ((bytes[at] >> off) & ((1 << take) - 1)) * 2 ** got;
      bit += take;
      got += take;
    }
    out[i] = v;
  }
  return out;
}
