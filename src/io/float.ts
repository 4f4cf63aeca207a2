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
export function f16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const table = f16DecodeTable();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** Decodes bf16 values (upper halves of f32) to f32 (natively for large tensors: src/native/convert.cc). */
export function bf16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  if (native && src.length >= NATIVE_MIN) {
    native.bf16ToF32(src, out, src.length);
    return out;
  }
  return bf16ToF32Ts(src, out);
}

/** Below this many elements the call into the addon costs more than the loop. */
const NATIVE_MIN = 1 << 14;

export function bf16ToF32Ts(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/** Encodes f32 values as f16 (round to nearest even; overflow to +-Inf). */
export function f32ToF16(src: Float32Array | Float64Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < src.length; i++) setFloat16(view, 2 * i, src[i], true);
  return out;
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
