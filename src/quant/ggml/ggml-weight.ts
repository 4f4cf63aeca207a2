/**
 * A linear layer stored in a ggml tensor type: the QuantizedWeight of format "ggml" (tensor
 * `blocks`: the rows' bytes exactly as GGUF stores them, U8 [rows, row bytes]) and its decoder.
 * Float types (F32, F16, BF16) are carried the same way, so a mix's F16 fallback is one more type.
 * Bits are what the file holds: every byte of every block (codes + sub-block scales + super-scales).
 */
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../io/float.js';
import type { BitsBreakdown, QuantizedWeight, StoredTensor, WeightFormat } from '../types.js';
import { dequantizeBlocks, quantizeBlocks } from './block-type.js';
import { BLOCK_TYPES, FLOAT_TYPES, rowBytes } from './registry.js';
import { native } from '../../native/index.js';
import { bytesToF32, type DType } from '../../io/safetensors.js';

export const GGML_FORMAT_NAME = 'ggml';

/** Whether the named ggml type can hold a row of `cols` weights. */
export function ggmlTypeFits(type: string, cols: number): boolean {
  return !!FLOAT_TYPES[type] || (!!BLOCK_TYPES[type] && cols % BLOCK_TYPES[type].blockSize === 0);
}

/** Bytes of a float type. */
function floatBytes(type: string, w: Float32Array): Uint8Array {
  const d = type === 'F32' ? w.slice() : type === 'F16' ? f32ToF16(w) : f32ToBf16(w);
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Decodes a ggml tensor's bytes ([rows, row bytes]) to f32. */
export function decodeGgml(type: string, bytes: Uint8Array, rows: number, cols: number, out?: Float32Array): Float32Array {
  const copy = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  if (type === 'F32') {
    const values = new Float32Array(copy.buffer, copy.byteOffset, rows * cols);
    return out ? (out.set(values), out) : values.slice();
  }
  if (type === 'F16') return f16ToF32(new Uint16Array(copy.buffer, copy.byteOffset, rows * cols), out);
  if (type === 'BF16') return bf16ToF32(new Uint16Array(copy.buffer, copy.byteOffset, rows * cols), out);
  const t = BLOCK_TYPES[type];
  if (!t) throw new Error(`ggml type ${type} cannot be decoded`);
  const dense = out ?? new Float32Array(rows * cols);
  dequantizeBlocks(t, bytes, 0, (rows * cols) / t.blockSize, dense, 0);
  return dense;
}

/** Packages a tensor's ggml bytes as a QuantizedWeight (dequantize() = what llama.cpp computes with). */
export function ggmlWeight(type: string, bytes: Uint8Array, rows: number, cols: number): QuantizedWeight {
  const total = bytes.byteLength * 8;
  const codeBits = BLOCK_TYPES[type]?.codeBits ?? 8 * (FLOAT_TYPES[type]?.bytes ?? 0);
  const codes = rows * cols * codeBits;
  const bits: BitsBreakdown = { codes, scales: total - codes, zeros: 0, outliers: 0, lowRank: 0, other: 0 };
  return {
    format: GGML_FORMAT_NAME, params: { type }, rows, cols,
    tensors: { blocks: { dtype: 'U8', shape: [rows, rowBytes(type, cols)], data: bytes } },
    bits, dequantize: (out) => decodeGgml(type, bytes, rows, cols, out),
  };
}

/**
 * Round-to-nearest on a ggml type: ggml's own quantizer, row by row, as llama-quantize does it
 * (with `importance`, one value per input column, as it does with an imatrix).
 */
export function ggmlRtn(w: Float32Array, rows: number, cols: number, type: string, importance: Float32Array | null = null): QuantizedWeight {
  if (FLOAT_TYPES[type]) return ggmlWeight(type, floatBytes(type, w), rows, cols);
  const t = BLOCK_TYPES[type];
  const rb = rowBytes(type, cols);
  const out = new Uint8Array(rows * rb);
  // Rows are whole blocks, so the matrix is one run of blocks; src/native/kquants.cc ports the
  // K-quants of the Q4_K_M mix, byte for byte (the data-free path: no importance).
  if (!(native && !importance && t.blockSize === 256 && native.ggmlQuantize(t.id, w, rows * cols, out, t.blockBytes)))
    for (let r = 0; r < rows; r++) quantizeBlocks(t, w, r * cols, cols, out, r * rb, importance);
  return ggmlWeight(type, out, rows, cols);
}

/**
 * ggmlRtn of a matrix given as its stored bytes (`dtype`, [rows, cols]), widened to f32 a chunk of
 * rows at a time, so a large unquantized matrix (token embedding, LM head: 0.5 GB as f32 at 7B) is
 * never widened whole. ggml blocks never span rows, so the bytes are ggmlRtn's.
 */
export function ggmlRtnOfStored(bytes: Uint8Array, dtype: DType, rows: number, cols: number, type: string, name: string, file: string, chunkRows = 1024): QuantizedWeight {
  const rb = FLOAT_TYPES[type] ? FLOAT_TYPES[type].bytes * cols : rowBytes(type, cols);
  const storedRowBytes = bytes.byteLength / rows;
  const out = new Uint8Array(rows * rb);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const r1 = Math.min(rows, r0 + chunkRows);
    const chunk = bytesToF32(bytes.subarray(r0 * storedRowBytes, r1 * storedRowBytes), dtype, name, file);
    out.set(ggmlRtn(chunk, r1 - r0, cols, type).tensors.blocks.data as Uint8Array, r0 * rb);
  }
  return ggmlWeight(type, out, rows, cols);
}

export const GGML_FORMAT: WeightFormat = {
  name: GGML_FORMAT_NAME,
  decode(t: Record<string, StoredTensor>, p, rows, cols) {
    const type = String(p.type);
    if (!ggmlTypeFits(type, cols)) throw new Error(`ggml type ${type} cannot hold rows of ${cols}`);
    const b = t.blocks;
    if (!b || b.data.byteLength !== rows * rowBytes(type, cols)) throw new Error(`tensor blocks missing or not ${rows} rows of ${type}`);
    return decodeGgml(type, b.data as Uint8Array, rows, cols);
  },
};
