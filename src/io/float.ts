/**
 * Conversions between f32 and the 16-bit float formats of checkpoints.
 *
 * f16 goes through @petamoriken/float16 (a maintained IEEE binary16 implementation): decoding
 * uses a 65,536-entry table built once from it; encoding calls its setFloat16 (round to nearest
 * even). bf16 is the top half of an f32, so it needs no library: decode is a shift, encode rounds
 * to nearest even on the dropped half.
 */
import { getFloat16, setFloat16, f16round } from '@petamoriken/float16';
import { native } from '../native/index.js';

let f16Table: Float32Array | null = null;

function f16DecodeTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const view = new DataView(new ArrayBuffer(2));
  for (let bits = 0; bits < 65536; bits++) {
    view.setUint16(0, bits, true);
    table[bits] = getFloat16(view, 0, true);
  }
  return (f16Table = table);
}

/** Decodes little-endian f16 values to f32. */
export function f16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = f16DecodeTable();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** Decodes bf16 values (upper halves of f32) to f32 (natively for large tensors: src/native/convert.cc). */
export function bf16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (native && src.length >= NATIVE_MIN) {
    native.bf16ToF32(src, out, src.length);
    return out;
  }
  return bf16ToF32Ts(src, out);
}

/** Below this many elements the call into the addon costs more than the loop. */
const NATIVE_MIN = 1 << 14;

export function bf16ToF32Ts(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/**
 * Encodes f32 values as f16 (round to nearest even; overflow to +-Inf). f32 input is converted on
 * its bit pattern (f32ToF16Bits, ~50x faster than the library's DataView path, equal to it bit for
 * bit: test/io.test.ts); f64 input goes through the library, which rounds from the double directly.
 */
export function f32ToF16(src: Float32Array | Float64Array): Uint16Array {
  const out = new Uint16Array(src.length);
  if (src instanceof Float32Array) {
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(bits[i]);
    return out;
  }
  const view = new DataView(out.buffer);
  for (let i = 0; i < src.length; i++) setFloat16(view, 2 * i, src[i], true);
  return out;
}

/**
 * The f16 bit pattern of the f32 with bit pattern `u` (IEEE 754 round to nearest, ties to even):
 * the 23-bit significand is cut to 10 bits (fewer for f16 subnormals) and the cut bits decide the
 * rounding; a carry out of the significand lands in the exponent, which is exactly the next binade
 * (or infinity past 65504). NaN stays a quiet NaN with the sign and top payload bits kept.
 */
export function f32ToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // the f16 exponent field, if the value is normal there
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) return sign | roundShift((e << 23) | mant, 13);
  if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
  return sign | roundShift(mant | 0x800000, 14 - e); // subnormal: the implicit bit joins the significand
}

/** v >>> shift rounded to nearest, ties to even (v < 2^31, 1 <= shift <= 24). */
function roundShift(v: number, shift: number): number {
  const kept = v >>> shift, rest = v & ((1 << shift) - 1), half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/** Encodes f32 values as bf16 (round to nearest even; NaN stays NaN). */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const b = bits[i];
    out[i] = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Rounds to the nearest f16 value (as a number). */
export const roundToF16 = f16round;

const f16View = new DataView(new ArrayBuffer(2));

/** The f16 bit pattern of one value (round to nearest even), as ggml's GGML_FP32_TO_FP16 gives it. */
export function f16Bits(x: number): number {
  setFloat16(f16View, 0, x, true);
  return f16View.getUint16(0, true);
}

/** The value of one f16 bit pattern. */
export function f16Value(bits: number): number {
  return f16DecodeTable()[bits];
}
