/**
 * The seam between the column-wise solvers (GPTQ, QuantEase) and what is stored. A solver walks
 * the columns of W in its processing order j = 0..cols-1; it asks the grid to fit the grids of a
 * group of columns from their current values (GPTQ: when the group starts, on the error-updated
 * weights; QuantEase: once, on the original weights), then, column by column, to round each
 * weight on its fitted grid and tell the value that will be stored. Two storages implement it:
 *   - lowbit's group grids (group-grid.ts: b-bit min/max or absmax grids per group, act-order via g_idx);
 *   - ggml block types (ggml/ggml-column-grid.ts: the block's header fitted by ggml's own scale
 *     search, codes on its sub-block grids), which is how GPTQ and QuantEase write GGUF files.
 */
import type { QuantizedWeight } from './types.js';

export interface ColumnGrid {
  readonly rows: number;
  readonly cols: number;
  /** Columns fitted together, consecutive in processing order. */
  readonly groupSize: number;
  /** Fits row r's grid(s) for the group starting at processing column j0 from its values v[0..n). */
  fit(r: number, j0: number, v: Float32Array, n: number): void;
  /** Stores the code of W[r, j] (processing column j) nearest to x on its fitted grid; returns the value it decodes to. */
  round(r: number, j: number, x: number): number;
  /** The stored layer. */
  weight(): QuantizedWeight;
}
