/**
 * A ggml block type as a ColumnGrid (../column-grid.ts), so GPTQ and QuantEase choose the codes of a
 * GGUF tensor. Fitting a block runs ggml's own reference quantizer on the block's current values:
 * its scale/min search and the 6-bit (or 4-, 8-bit) sub-block scales against f16 super-scales, all
 * exactly as ggml stores them. Those are then held fixed, and each weight is rounded on its
 * sub-block's grid, value = scale * level + offset, with the solver's error feedback deciding what
 * "each weight" is. Columns are processed in their natural order (blocks are runs of consecutive
 * inputs; ggml has no g_idx), so act-order is not available on these grids.
 *
 * `importance` (one value per input column: diag(H), what llama.cpp's imatrix estimates as the mean
 * square of each input) makes the header search the importance-weighted one ggml uses with an
 * imatrix, for the types that have it.
 */
import type { ColumnGrid } from '../column-grid.js';
import type { QuantizedWeight } from '../types.js';
import type { GgmlBlockType } from './block-type.js';
import { ggmlWeight } from './ggml-weight.js';

/** The importance of each input column from its Hessian: diag(H). */
export function hessianDiagonal(h: Float64Array, cols: number): Float32Array {
  return Float32Array.from({ length: cols }, (_, j) => h[j * cols + j]);
}

export class GgmlColumnGrid implements ColumnGrid {
  readonly groupSize: number;
  private readonly nSub: number;
  private readonly blocksPerRow: number;
  private readonly bytes: Uint8Array;
  /** Unpacked codes [rows, cols]. */
  private readonly codes: Uint8Array;
  /** Sub-block scale and offset [rows, cols / subSize]. */
  private readonly scale: Float32Array;
  private readonly offset: Float32Array;

  constructor(readonly type: GgmlBlockType, readonly rows: number, readonly cols: number, private readonly importance: Float32Array | null = null) {
    if (cols % type.blockSize !== 0) throw new Error(`${type.name} needs rows that are multiples of ${type.blockSize} (got ${cols})`);
    this.groupSize = type.blockSize;
    this.nSub = type.blockSize / type.subSize;
    this.blocksPerRow = cols / type.blockSize;
    this.bytes = new Uint8Array(rows * this.blocksPerRow * type.blockBytes);
    this.codes = new Uint8Array(rows * cols);
    this.scale = new Float32Array(rows * (cols / type.subSize));
    this.offset = new Float32Array(rows * (cols / type.subSize));
  }

  fit(r: number, j0: number, v: Float32Array, n: number): void {
    const t = this.type, b = j0 / t.blockSize;
    if (n !== t.blockSize || !Number.isInteger(b)) throw new Error(`ggml grid: a group must be one whole block (got ${n} columns at ${j0})`);
    const at = (r * this.blocksPerRow + b) * t.blockBytes, sub = (r * this.cols + j0) / t.subSize;
    t.quantize(v, 0, this.bytes, at, this.importance?.subarray(j0, j0 + t.blockSize));
    t.grids(this.bytes, at, this.scale.subarray(sub, sub + this.nSub), this.offset.subarray(sub, sub + this.nSub));
    // ggml's own codes stand until the solver rounds each weight (a zero-scale sub-block keeps them).
    t.unpackCodes(this.bytes, at, this.codes.subarray(r * this.cols + j0, r * this.cols + j0 + t.blockSize));
  }

  round(r: number, j: number, x: number): number {
    const t = this.type, s = (r * this.cols + j) / t.subSize | 0;
    const sc = this.scale[s], off = this.offset[s], at = r * this.cols + j;
    if (sc !== 0) this.codes[at] = t.encodeLevel((x - off) / sc);
    return Math.fround(Math.fround(sc * t.levels[this.codes[at]]) + off);
  }

  weight(): QuantizedWeight {
    const t = this.type;
    for (let r = 0; r < this.rows; r++)
      for (let b = 0; b < this.blocksPerRow; b++) {
        const c0 = r * this.cols + b * t.blockSize;
        t.packCodes(this.codes.subarray(c0, c0 + t.blockSize), this.bytes, (r * this.blocksPerRow + b) * t.blockBytes);
      }
    return ggmlWeight(t.name, this.bytes, this.rows, this.cols);
  }
}
