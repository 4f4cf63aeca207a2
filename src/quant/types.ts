/**
 * What a quantization method produces for one linear layer, and how it is counted.
 *
 * A QuantizedWeight carries (1) the tensors that are saved, under suffixes of the layer's name
 * (`model.layers.0.mlp.up_proj.codes`, ...), (2) a format name that knows how to turn those
 * tensors back into a dense weight (see formats.ts), and (3) the exact bit budget, counted as a
 * packed format would store it: b-bit codes, 16-bit scales, b-bit zeros, outlier values and
 * positions, low-rank factors. Bits per weight = total bits / (rows x cols).
 */
import type { DType } from '../io/safetensors.js';
import type { RowGridWeight } from '../io/tensor-source.js';

export type TypedData = Uint8Array | Uint16Array | Int32Array | Float32Array;

export interface StoredTensor {
  dtype: DType;
  shape: number[];
  data: TypedData;
  /**
   * Set when `data` is not one element per value but the values' bit stream at this width, as the
   * file stores it (export/packing.ts); formats decode tensors after the reader has unpacked them.
   */
  packedWidth?: number;
}

export interface BitsBreakdown {
  codes: number;
  scales: number;
  zeros: number;
  outliers: number;
  lowRank: number;
  /** Anything else a format stores per layer (e.g. act-order group indices). */
  other: number;
}

export const NO_BITS: BitsBreakdown = { codes: 0, scales: 0, zeros: 0, outliers: 0, lowRank: 0, other: 0 };

export function totalBits(b: BitsBreakdown): number {
  return b.codes + b.scales + b.zeros + b.outliers + b.lowRank + b.other;
}

export function addBits(a: BitsBreakdown, b: BitsBreakdown): BitsBreakdown {
  return {
    codes: a.codes + b.codes, scales: a.scales + b.scales, zeros: a.zeros + b.zeros,
    outliers: a.outliers + b.outliers, lowRank: a.lowRank + b.lowRank, other: a.other + b.other,
  };
}

/** Parameters a format needs to decode (all JSON-serialisable; saved in lowbit.json). */
export type FormatParams = Record<string, number | boolean | string>;

/** What is saved of a quantized linear layer and how it is counted: what a ModelSink stores. */
export interface StoredWeight {
  /** Name of the format in formats.ts that decodes `tensors`. */
  format: string;
  params: FormatParams;
  rows: number;
  cols: number;
  tensors: Record<string, StoredTensor>;
  bits: BitsBreakdown;
  /** Method-specific figures for the per-layer report (kept in lowbit.json). */
  report?: Record<string, number | string | boolean>;
  /**
   * A full-precision low-rank term U V^T acting on the UNquantized input (LRC): not part of
   * `dequantize()`, which acts on the quantized input. U [rows, rank], V [cols, rank].
   */
  lowRank?: { u: Float32Array; v: Float32Array; rank: number };
}

/** A method's result for one linear layer: what is saved, and the dense weight it stands for. */
export interface QuantizedWeight extends StoredWeight {
  /**
   * The dense weight the saved tensors decode to (rows x cols, row-major), computed when asked: into
   * `out` when given (a buffer the caller reuses from layer to layer, so a streaming quantizer
   * allocates nothing per tensor), else into a new array.
   */
  dequantize(out?: Float32Array): Float32Array;
}

/** `dequantize` for a weight whose dense form was computed anyway (column solvers): copied into `out` when asked. */
export function fromDense(dense: Float32Array): (out?: Float32Array) => Float32Array {
  return (out) => (out ? (out.set(dense), out) : dense);
}

/** The saved part of a QuantizedWeight (functions do not cross to worker threads or into files). */
export function storedPart(q: QuantizedWeight): StoredWeight {
  const { dequantize: _, ...stored } = q;
  return stored;
}

/** Decodes saved tensors back into a dense weight. */
export interface WeightFormat {
  readonly name: string;
  decode(tensors: Record<string, StoredTensor>, params: FormatParams, rows: number, cols: number): Float32Array;
  /** The codes on one grid per output row, where the format's layer is so quantized (integer products); else null. */
  rowGrid?(tensors: Record<string, StoredTensor>, params: FormatParams, rows: number, cols: number): RowGridWeight | null;
}
