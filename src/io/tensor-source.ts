import type { Scratch } from './scratch.js';

/** Where a model's f32 weights come from: a checkpoint, or a quantized model that dequantizes. */
export interface TensorSource {
  /** Directory the tensors come from (for error messages). */
  readonly dir: string;
  has(name: string): boolean;
  shape(name: string): number[];
  /** The file holding `name` (for error messages). */
  fileOf(name: string): string;
  /**
   * The tensor as f32. With `scratch`, a source may return a view of the scratch's buffers (valid
   * until the scratch is used again) instead of a new array; sources that compute are free to ignore it.
   */
  readF32(name: string, scratch?: Scratch): Float32Array;
  /**
   * A quantized matrix kept as stored (packed codes, ggml blocks) with a decoder, so a model can
   * hold it compactly and widen it one layer at a time; null when the tensor is stored dense.
   */
  readPacked?(name: string): PackedTensor | null;
}

export interface PackedTensor {
  shape: number[];
  /** Bytes held while packed. */
  byteLength: number;
  /** The dense f32 weight (the same values readF32 returns). */
  decode(): Float32Array;
  /**
   * The weights as stored, when they are 16-bit floats (a bf16/f16 checkpoint): a backend that
   * unpacks them itself (Backend.uploadHalf) keeps them so, at half of f32's memory.
   */
  half?: HalfWeights;
  /**
   * The weight's integer codes when it is quantized on one grid per output row (per-channel), for
   * integer products with quantized activations (Backend.integerLinear); null when it is not so.
   */
  rowGrid?(): RowGridWeight | null;
}

/** A weight quantized per output row: w[o, k] = scales[o] (codes[o, k] - zeros[o]), codes in [0, 2^bits - 1]. */
export interface RowGridWeight {
  rows: number;
  cols: number;
  bits: number;
  /** [rows, cols], row-major. */
  codes: Uint8Array;
  /** [rows]. */
  scales: Float32Array;
  /** [rows], integers in [0, 2^bits - 1]. */
  zeros: Uint8Array;
}

/** 16-bit float weights as stored, little-endian, row-major. */
export interface HalfWeights {
  format: 'bf16' | 'f16';
  bits: Uint16Array;
}
