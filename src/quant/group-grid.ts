/**
 * Group-wise uniform quantization of a weight matrix W [rows, cols] (out x in): each row is
 * cut along the input dimension into groups of `groupSize` consecutive columns (the last group
 * of a row is shorter when groupSize does not divide cols, as in GPTQ), each with its own grid.
 * Per-channel quantization is the special case groupSize = cols.
 *
 * With act-order (GPTQ's desc_act) a group is a set of columns in a permuted order; the layout
 * stays plain group-wise by storing each column's group index (`groupIndex`, GPTQ's g_idx).
 *
 * Saved tensors: codes U8 [rows, cols], scales F16 [rows, groups], zeros U8 [rows, groups]
 * (asymmetric only: symmetric grids have z = 2^(b-1)), g_idx I32 [cols] (act-order only).
 */
import { native } from '../native/index.js';
import { f16ToF32, f32ToF16 } from '../io/float.js';
import type { RowGridWeight } from '../io/tensor-source.js';
import { type GridSpec, fitGridTo, encode, maxCode, roundHalfEven } from './grid.js';
import type { ColumnGrid } from './column-grid.js';
import type { Tensor } from '../backend/backend.js';
import type { DeviceSolvers } from '../backend/solvers.js';
import type { BitsBreakdown, FormatParams, QuantizedWeight, StoredTensor, WeightFormat } from './types.js';

export interface GroupGridSpec extends GridSpec {
  /** Columns per group; 0 (or >= cols) means one group per row (per-channel). */
  groupSize: number;
}

export interface GroupGrid {
  rows: number;
  cols: number;
  bits: number;
  symmetric: boolean;
  /** Effective group size (cols for per-channel). */
  groupSize: number;
  codes: Uint8Array;
  /** [rows, groups]; every value is exactly representable in f16. */
  scales: Float32Array;
  /** [rows, groups], integers in [0, 2^bits - 1]. */
  zeros: Uint8Array;
  /** Group of each column; absent means floor(col / groupSize). */
  groupIndex?: Int32Array;
}

export function effectiveGroupSize(groupSize: number, cols: number): number {
  return groupSize <= 0 || groupSize >= cols ? cols : groupSize;
}

export function groupCount(grid: Pick<GroupGrid, 'cols' | 'groupSize'>): number {
  return Math.ceil(grid.cols / grid.groupSize);
}

/** Allocates an empty grid layout for W [rows, cols]. */
export function emptyGroupGrid(rows: number, cols: number, spec: GroupGridSpec): GroupGrid {
  const groupSize = effectiveGroupSize(spec.groupSize, cols);
  const groups = Math.ceil(cols / groupSize);
  return {
    rows, cols, bits: spec.bits, symmetric: spec.symmetric, groupSize,
    codes: new Uint8Array(rows * cols),
    scales: new Float32Array(rows * groups),
    zeros: new Uint8Array(rows * groups),
  };
}

/**
 * Round-to-nearest of every weight on its group's min/max (or absmax) grid: natively when the
 * addon is built (src/native/quant.cc, bit-identical), else by quantizeRtnTs.
 */
export function quantizeRtn(w: Float32Array, rows: number, cols: number, spec: GroupGridSpec): GroupGrid {
  if (!native || cols === 0) return quantizeRtnTs(w, rows, cols, spec);
  const grid = emptyGroupGrid(rows, cols, spec);
  native.rtnGroupGrid(w, rows, cols, grid.groupSize, spec.bits, spec.symmetric, grid.codes, grid.scales, grid.zeros);
  return grid;
}

/** quantizeRtn in TypeScript: the definition the native kernel is tested against. */
export function quantizeRtnTs(w: Float32Array, rows: number, cols: number, spec: GroupGridSpec): GroupGrid {
  const grid = emptyGroupGrid(rows, cols, spec);
  const gs = grid.groupSize, groups = groupCount(grid), maxq = maxCode(spec.bits);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const c0 = g * gs, n = Math.min(gs, cols - c0), base = r * cols + c0;
      const grd = fitGridTo(w, base, n, 1, spec);
      grid.scales[r * groups + g] = grd.scale;
      grid.zeros[r * groups + g] = grd.zero;
      for (let j = 0; j < n; j++) grid.codes[base + j] = encode(w[base + j], grd, maxq);
    }
  }
  return grid;
}

/** W_hat[r, c] = scale[r, g(c)] * (code[r, c] - zero[r, g(c)]) (natively without act-order: src/native/quant.cc). */
export function dequantizeGroupGrid(grid: GroupGrid, out: Float32Array = new Float32Array(grid.rows * grid.cols)): Float32Array {
  const { rows, cols, groupSize, codes, scales, zeros, groupIndex } = grid;
  const groups = groupCount(grid);
  if (native && !groupIndex && cols > 0) {
    native.dequantizeGroupGrid(codes, scales, zeros, rows, cols, groupSize, out);
    return out;
  }
  for (let r = 0; r < rows; r++) {
    if (groupIndex) {
      for (let c = 0; c < cols; c++) {
        const g = r * groups + groupIndex[c];
        out[r * cols + c] = scales[g] * (codes[r * cols + c] - zeros[g]);
      }
      continue;
    }
    for (let g = 0; g < groups; g++) {
      const s = scales[r * groups + g], z = zeros[r * groups + g];
      for (let i = r * cols + g * groupSize, end = r * cols + Math.min(cols, (g + 1) * groupSize); i < end; i++) out[i] = s * (codes[i] - z);
    }
  }
  return out;
}

/** Bits a packed format needs for this grid layout. */
export function groupGridBits(grid: GroupGrid): BitsBreakdown {
  const groups = groupCount(grid);
  return {
    codes: grid.rows * grid.cols * grid.bits,
    scales: grid.rows * groups * 16,
    zeros: grid.symmetric ? 0 : grid.rows * groups * grid.bits,
    outliers: 0,
    lowRank: 0,
    // A packed format stores each column's group index in ceil(log2 groups) bits (saved here as I32).
    other: grid.groupIndex ? grid.cols * Math.max(1, Math.ceil(Math.log2(groups))) : 0,
  };
}

export function groupGridTensors(grid: GroupGrid): Record<string, StoredTensor> {
  const groups = groupCount(grid);
  const t: Record<string, StoredTensor> = {
    codes: { dtype: 'U8', shape: [grid.rows, grid.cols], data: grid.codes },
    scales: { dtype: 'F16', shape: [grid.rows, groups], data: f32ToF16(grid.scales) },
  };
  if (!grid.symmetric) t.zeros = { dtype: 'U8', shape: [grid.rows, groups], data: grid.zeros };
  if (grid.groupIndex) t.g_idx = { dtype: 'I32', shape: [grid.cols], data: grid.groupIndex };
  return t;
}

export function groupGridParams(grid: GroupGrid): FormatParams {
  return { bits: grid.bits, groupSize: grid.groupSize, symmetric: grid.symmetric };
}

/** Packages a grid as a QuantizedWeight of format "group-grid". */
export function groupGridWeight(grid: GroupGrid): QuantizedWeight {
  return {
    format: GROUP_GRID_FORMAT.name,
    params: groupGridParams(grid),
    rows: grid.rows,
    cols: grid.cols,
    tensors: groupGridTensors(grid),
    bits: groupGridBits(grid),
    dequantize: (out) => dequantizeGroupGrid(grid, out),
  };
}

/** Rebuilds the grid layout from saved tensors. */
export function groupGridFromTensors(t: Record<string, StoredTensor>, p: FormatParams, rows: number, cols: number): GroupGrid {
  const bits = Number(p.bits), groupSize = Number(p.groupSize), symmetric = p.symmetric === true;
  const groups = Math.ceil(cols / groupSize);
  const need = (name: string, shape: number[]): StoredTensor => {
    const s = t[name];
    if (!s || s.shape.length !== shape.length || s.shape.some((d, i) => d !== shape[i]))
      throw new Error(`tensor ${name} missing or not of shape [${shape}]`);
    return s;
  };
  const codes = need('codes', [rows, cols]).data as Uint8Array;
  const scales = f16ToF32(need('scales', [rows, groups]).data as Uint16Array);
  const zeros = symmetric ? new Uint8Array(rows * groups).fill(1 << (bits - 1)) : (need('zeros', [rows, groups]).data as Uint8Array);
  const grid: GroupGrid = { rows, cols, bits, symmetric, groupSize, codes, scales, zeros };
  if (t.g_idx) grid.groupIndex = need('g_idx', [cols]).data as Int32Array;
  const maxq = maxCode(bits);
  for (let i = 0; i < codes.length; i++) if (codes[i] > maxq) throw new Error(`code ${codes[i]} exceeds ${bits} bits`);
  return grid;
}

export const GROUP_GRID_FORMAT: WeightFormat = {
  name: 'group-grid',
  decode: (t, p, rows, cols) => dequantizeGroupGrid(groupGridFromTensors(t, p, rows, cols)),
  rowGrid: (t, p, rows, cols) => rowGridOf(groupGridFromTensors(t, p, rows, cols)),
};

/** A per-channel grid (one group a row) as a RowGridWeight; null for group-wise grids. */
export function rowGridOf(grid: GroupGrid): RowGridWeight | null {
  if (grid.groupSize < grid.cols) return null;
  const { rows, cols, bits, codes, scales, zeros } = grid;
  return { rows, cols, bits, codes, scales, zeros };
}

/**
 * lowbit's group grids as a ColumnGrid (column-grid.ts). `perm[j]` is the original column of
 * processing column j (act-order; null: natural order); groups are runs of the processing order,
 * as GPTQ's desc_act, and each column keeps its group index (g_idx).
 */
export class GroupColumnGrid implements ColumnGrid {
  readonly grid: GroupGrid;
  readonly rows: number;
  readonly cols: number;
  readonly groupSize: number;
  private readonly groups: number;
  private readonly maxq: number;

  constructor(rows: number, cols: number, private readonly spec: GroupGridSpec, private readonly perm: Int32Array | null = null) {
    this.grid = emptyGroupGrid(rows, cols, spec);
    this.rows = rows;
    this.cols = cols;
    this.groupSize = this.grid.groupSize;
    this.groups = groupCount(this.grid);
    this.maxq = maxCode(spec.bits);
    if (perm && this.groupSize < cols) {
      const gIdx = new Int32Array(cols);
      for (let j = 0; j < cols; j++) gIdx[perm[j]] = Math.floor(j / this.groupSize);
      this.grid.groupIndex = gIdx;
    }
  }

  fit(r: number, j0: number, v: Float32Array, n: number): void {
    const g = r * this.groups + Math.floor(j0 / this.groupSize);
    const grd = fitGridTo(v, 0, n, 1, this.spec);
    this.grid.scales[g] = grd.scale;
    this.grid.zeros[g] = grd.zero;
  }

  round(r: number, j: number, x: number): number {
    const g = r * this.groups + ((j / this.groupSize) | 0);
    const s = this.grid.scales[g], z = this.grid.zeros[g];
    let code = roundHalfEven(x / s) + z;
    code = code < 0 ? 0 : code > this.maxq ? this.maxq : code;
    this.grid.codes[r * this.cols + (this.perm ? this.perm[j] : j)] = code;
    return s * (code - z);
  }

  weight(): QuantizedWeight {
    return groupGridWeight(this.grid);
  }
}

/**
 * Round-to-nearest on group grids on a device (backend/solvers.ts: the column sweep without error
 * feedback), as quantizeRtn: what it decodes to, as a new tensor.
 */
export function rtnOnDevice(s: DeviceSolvers, w: Tensor, spec: GroupGridSpec): Tensor {
  const [, cols] = w.shape;
  const out = s.copy(w);
  const sweep = s.groupGridSweep(out, { bits: spec.bits, symmetric: spec.symmetric, groupSize: effectiveGroupSize(spec.groupSize, cols) });
  for (let i1 = 0; i1 < cols; i1 += s.columnBlock) sweep.columns(i1, Math.min(s.columnBlock, cols - i1), null);
  sweep.free();
  return out;
}

/**
 * A group grid solved on a device in a processing order (act-order: processing column j is W's
 * column perm[j]; null: the stored order) brought back to the stored order: codes scattered to
 * their columns, each keeping the group it was quantized in (g_idx), as GroupColumnGrid stores
 * them; W_hat's columns scattered back on the device (`w`, in processing order, is freed).
 */
export function storedOrderOnDevice(s: DeviceSolvers, grid: GroupGrid, w: Tensor, perm: Int32Array | null): { grid: GroupGrid; dequantized: Tensor } {
  if (!perm) return { grid, dequantized: w };
  const { rows, cols, codes, groupSize } = grid;
  const inverse = new Int32Array(cols);
  perm.forEach((p, j) => { inverse[p] = j; });
  const stored = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) stored[r * cols + c] = codes[r * cols + inverse[c]];
  const out: GroupGrid = { ...grid, codes: stored };
  if (groupSize < cols) out.groupIndex = Int32Array.from(inverse, (j) => Math.floor(j / groupSize));
  const dequantized = s.permute(w, null, inverse);
  s.free(w);
  return { grid: out, dequantized };
}
