/**
 * A ggml block type (GGUF's quantized tensor types): what is stored, one file per type beside
 * lowbit's own grids. Every type here stores, per block of `blockSize` consecutive weights of a
 * row, a header (f16 super-scales, small-integer sub-block scales and mins) and one code per
 * weight, and decodes weight i of sub-block s as
 *
 *     value = scale[s] * levels[code] + offset[s]          (in f32, as ggml's dequantize_row_*)
 *
 * which is what lets the solvers (GPTQ, QuantEase) choose codes on any of them: the header is
 * fitted once (ggml's own scale search, `quantize`), then each code is chosen against the fixed
 * sub-block grids (`grids`, `encodeLevel`) and written back (`packCodes`).
 */
import { f16Value } from '../../io/float.js';

export interface GgmlBlockType {
  readonly name: string;
  /** ggml_type id in GGUF tensor infos. */
  readonly id: number;
  /** Weights per block (QK). */
  readonly blockSize: number;
  /** Bytes per block (sizeof(block_*)). */
  readonly blockBytes: number;
  /** Weights sharing one (scale, offset) pair. */
  readonly subSize: number;
  /** Bits per code (for the bit accounting: the rest of a block is header). */
  readonly codeBits: number;
  /** levels[c]: the number code c stands for before scaling. */
  readonly levels: Int8Array;
  /**
   * ggml's quantizer for one block, what llama-quantize writes: x[xo .. xo + blockSize) into
   * out[oo .. oo + blockBytes). With `importance` (one value per weight of the block: llama.cpp's
   * imatrix, or diag(H) from lowbit's calibration) the types that have an importance-weighted
   * search in ggml use it (the K-quants here; the legacy and IQ4 types, whose ggml search also
   * needs the whole row, ignore it).
   */
  quantize(x: Float32Array, xo: number, out: Uint8Array, oo: number, importance?: Float32Array | null): void;
  /** The block's sub-block grids as ggml's dequantizer computes them (f32 values). */
  grids(block: Uint8Array, bo: number, scale: Float32Array, offset: Float32Array): void;
  /** Codes of the block's weights, in weight order. */
  unpackCodes(block: Uint8Array, bo: number, codes: Uint8Array): void;
  /** Writes the codes' bits into the block, leaving its header as it is. */
  packCodes(codes: Uint8Array, block: Uint8Array, bo: number): void;
  /** The code whose level is nearest to t (= (x - offset) / scale). */
  encodeLevel(t: number): number;
}

/** Reads the little-endian f16 at block[at] as a number. */
export function readF16(block: Uint8Array, at: number): number {
  return f16Value(block[at] | (block[at + 1] << 8));
}

/** Writes f16 bits at block[at], little-endian. */
export function writeF16Bits(block: Uint8Array, at: number, bits: number): void {
  block[at] = bits & 0xff;
  block[at + 1] = bits >>> 8;
}

/** Levels c - shift for c in [0, count): the uniform grids. */
export function uniformLevels(count: number, shift: number): Int8Array {
  return Int8Array.from({ length: count }, (_, c) => c - shift);
}

/** encodeLevel for uniform levels c - shift: round half to even, clamp. */
export function uniformEncoder(count: number, shift: number): (t: number) => number {
  return (t) => {
    const c = (t + 6755399441055744 - 6755399441055744) + shift;
    return c < 0 ? 0 : c > count - 1 ? count - 1 : c;
  };
}

/**
 * Dequantizes `nBlocks` consecutive blocks into y (f32, bit-identical to ggml's dequantize_row_*:
 * value = fround(fround(scale * level) + offset)).
 */
export function dequantizeBlocks(t: GgmlBlockType, src: Uint8Array, so: number, nBlocks: number, y: Float32Array, yo: number): void {
  const nSub = t.blockSize / t.subSize;
  const scale = new Float32Array(nSub), offset = new Float32Array(nSub), codes = new Uint8Array(t.blockSize);
  for (let b = 0; b < nBlocks; b++, so += t.blockBytes, yo += t.blockSize) {
    t.grids(src, so, scale, offset);
    t.unpackCodes(src, so, codes);
    for (let s = 0; s < nSub; s++) {
      const sc = scale[s], off = offset[s];
      for (let i = s * t.subSize, end = i + t.subSize; i < end; i++) y[yo + i] = Math.fround(sc * t.levels[codes[i]]) + off;
    }
  }
}

/** ggml's quantization of a row (length a multiple of blockSize), with an optional importance per column. */
export function quantizeBlocks(t: GgmlBlockType, x: Float32Array, xo: number, n: number, out: Uint8Array, oo: number, importance: Float32Array | null = null): void {
  for (let i = 0; i < n; i += t.blockSize, oo += t.blockBytes) t.quantize(x, xo + i, out, oo, importance?.subarray(i, i + t.blockSize));
}
