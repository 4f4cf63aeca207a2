/**
 * GPTQ (Frantar, Ashkboos, Hoefler, Alistarh, 2022, arXiv 2210.17323): quantize the columns of W
 * one at a time and spread each column's rounding error over the not-yet-quantized columns, by the
 * optimal-brain-surgeon update with the inverse Hessian H^-1 of the layer loss
 * ||W X - W_hat X||^2 (H = X X^T):
 *
 *   for column j:  q_j = quant(w_j);  e = (w_j - q_j) / [H^-1]_jj;  w_k -= e [H^-1]_jk  for k > j   (paper eq. 3)
 *
 * with the paper's three implementation steps: the rows of H^-1 needed are those of its upper
 * Cholesky factor U (H^-1 = U^T U), so no matrix is re-inverted; updates are applied lazily,
 * exactly inside a block of 128 columns and with one matrix product for all later columns after
 * each block; and H is damped by `damp` x mean(diag H) for stability.
 *
 * Choices, following the reference implementation (IST-DASLab/gptq):
 *  - group grids are fitted when a group starts, on the weights as updated so far (the reference
 *    reads them from the lazily-updated matrix; the two agree when groups start at block starts,
 *    as with the default group 128 / block 128);
 *  - per-channel grids are fitted once, on the original weights;
 *  - act-order (`--act-order`, the reference's desc_act) processes columns by decreasing H_jj; the
 *    groups are runs of the permuted order and each column keeps its group index (g_idx);
 *  - dead inputs (H_jj = 0) get H_jj = 1 and a zero weight (their input is always zero);
 *  - if the damped H is not positive definite, damping is multiplied by 10 and retried (up to 4
 *    times) before a clear error. Cholesky and the inverse are computed in f64; the column loop in
 *    f32, like the reference.
 */
import { sgemm } from '../../linalg/gemm.js';
import { inverseCholeskyUpper } from '../../linalg/hessian.js';
import { LowbitError } from '../../util/errors.js';
import { type GroupGrid, GroupColumnGrid, effectiveGroupSize, groupGridWeight, storedOrderOnDevice } from '../group-grid.js';
import type { ColumnGrid } from '../column-grid.js';
import { GgmlColumnGrid, hessianDiagonal } from '../ggml/ggml-column-grid.js';
import { BLOCK_TYPES } from '../ggml/registry.js';
import { ggmlRtn } from '../ggml/ggml-weight.js';
import type { CalibratedMethod, DeviceLayer, QuantOptions } from '../method.js';
import type { Tensor } from '../../backend/backend.js';
import type { OptionSpecs } from '../../util/options.js';
import { activationAwareTarget } from '../act-aware.js';
import { activationAwareTargetOnDevice, dampedInverseFactor, type DeviceLowRank } from '../act-aware-device.js';

/** Columns per sub-block: rank-1 updates inside it, one GEMM to the rest of the block after it. */
const SUB = 16;

export interface GptqOptions {
  bits: number;
  groupSize: number;
  symmetric: boolean;
  /** Damping as a fraction of the mean diagonal of H (reference default 0.01). */
  damp: number;
  actOrder: boolean;
  /** Columns per lazy-update block (reference default 128). */
  blockSize: number;
}

export interface GptqResult {
  grid: GroupGrid;
  /** The damping fraction that made H positive definite. */
  dampUsed: number;
}

/** Columns ordered by decreasing H_jj (stable), or the identity. */
export function columnOrder(h: Float64Array, cols: number, actOrder: boolean): Int32Array {
  return diagonalOrder(Float64Array.from({ length: cols }, (_, j) => h[j * cols + j]), actOrder);
}

/** columnOrder from H's diagonal alone. */
export function diagonalOrder(diag: ArrayLike<number>, actOrder: boolean): Int32Array {
  const perm = Int32Array.from({ length: diag.length }, (_, i) => i);
  if (actOrder) perm.sort((a, b) => diag[b] - diag[a] || a - b);
  return perm;
}

/**
 * What GPTQ adds to H's diagonal d (in processing order) before factoring it: 1 where an input is
 * dead (d_j = 0: its weight is zeroed, and H_jj = 1 keeps H invertible), and to every input
 * `dampFrac` x the mean of the diagonal so fixed. The host and the device versions both use it.
 */
function diagonalAdd(d: ArrayLike<number>, dampFrac: number): Float64Array {
  let meanDiag = 0;
  for (let j = 0; j < d.length; j++) meanDiag += d[j] === 0 ? 1 : d[j];
  meanDiag /= d.length;
  return Float64Array.from(d, (x) => (x === 0 ? 1 : 0) + dampFrac * meanDiag);
}

/** Damped, permuted copy of H with dead inputs fixed (diagonalAdd). */
function preparedHessian(hessian: Float64Array, cols: number, perm: Int32Array, dampFrac: number): Float64Array {
  const h = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    const pi = perm[i];
    for (let j = 0; j < cols; j++) h[i * cols + j] = hessian[pi * cols + perm[j]];
  }
  const add = diagonalAdd(Float64Array.from({ length: cols }, (_, i) => h[i * cols + i]), dampFrac);
  for (let i = 0; i < cols; i++) h[i * cols + i] += add[i];
  return h;
}

export function gptqQuantize(w: Float32Array, rows: number, cols: number, hessian: Float64Array, o: GptqOptions): GptqResult {
  const perm = columnOrder(hessian, cols, o.actOrder);
  const grid = new GroupColumnGrid(rows, cols, o, o.actOrder ? perm : null);
  const { dampUsed } = gptqSolve(w, rows, cols, hessian, o, grid, perm);
  return { grid: grid.grid, dampUsed };
}

/**
 * The GPTQ column loop on any ColumnGrid (lowbit's group grids, a ggml block type): `perm` is the
 * processing order (act-order or the identity). Returns the damping that made H positive definite.
 */
export function gptqSolve(w: Float32Array, rows: number, cols: number, hessian: Float64Array, o: Pick<GptqOptions, 'damp' | 'blockSize'>, grid: ColumnGrid, perm: Int32Array): { dampUsed: number } {
  const gs = grid.groupSize;

  // Working copy with permuted columns; dead inputs zeroed.
  const wp = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < cols; j++) {
      const pj = perm[j];
      wp[r * cols + j] = hessian[pj * cols + pj] === 0 ? 0 : w[r * cols + pj];
    }

  // U with H^-1 = U^T U, retrying with more damping when H is not positive definite.
  let dampUsed = o.damp, u64: Float64Array | null = null;
  for (let attempt = 0; attempt < 5 && !u64; attempt++, dampUsed *= 10) {
    u64 = inverseCholeskyUpper(preparedHessian(hessian, cols, perm, dampUsed), cols);
    if (u64) break;
  }
  if (!u64) throw new LowbitError(`GPTQ: the layer Hessian is not positive definite even with damping ${dampUsed / 10} (calibration inputs degenerate?)`);
  const u = Float32Array.from(u64);

  const bs = Math.max(SUB, Math.ceil(o.blockSize / SUB) * SUB);
  const block = new Float32Array(bs * rows); // block columns, transposed: block[j * rows + r] = W[r, i1 + j]
  const errs = new Float32Array(bs * rows); // scaled errors of the block's columns, same layout
  const groupVals = new Float32Array(gs);
  for (let i1 = 0; i1 < cols; i1 += bs) {
    const i2 = Math.min(cols, i1 + bs), count = i2 - i1;
    for (let j = 0; j < count; j++) for (let r = 0; r < rows; r++) block[j * rows + r] = wp[r * cols + i1 + j];
    for (let i = 0; i < count; i++) {
      const col = i1 + i;
      if (col % gs === 0) {
        // Fit the new group's grids on the current weights: in-block columns from `block`.
        // (Per-channel: one group, fitted here on the whole original row.)
        const end = Math.min(cols, col + gs);
        for (let r = 0; r < rows; r++) {
          for (let c = col; c < end; c++) groupVals[c - col] = c < i2 ? block[(c - i1) * rows + r] : wp[r * cols + c];
          grid.fit(r, col, groupVals, end - col);
        }
      }
      const d = u[col * cols + col];
      const wcol = i * rows;
      for (let r = 0; r < rows; r++) {
        const x = block[wcol + r];
        errs[wcol + r] = (x - grid.round(r, col, x)) / d;
      }
      // Exact update of the rest of the sub-block: w_k -= e * U[col, k].
      const s2 = Math.min(count, (Math.floor(i / SUB) + 1) * SUB);
      for (let j = i + 1; j < s2; j++) {
        const h = u[col * cols + i1 + j];
        if (h === 0) continue;
        const dst = j * rows;
        for (let r = 0; r < rows; r++) block[dst + r] -= errs[wcol + r] * h;
      }
      // End of a sub-block: its errors reach the block's later columns through one product,
      // block[s2:] -= U[sub, s2:]^T E_sub (the lazy-update trick, one level down).
      if (i + 1 === s2 && s2 < count) {
        const s1 = s2 - SUB;
        sgemm({ m: count - s2, n: rows, k: SUB, transA: true, alpha: -1, beta: 1 },
          { data: u, offset: (i1 + s1) * cols + i1 + s2, ld: cols }, { data: errs, offset: s1 * rows, ld: rows }, { data: block, offset: s2 * rows, ld: rows });
      }
    }
    // Lazy update of all later columns: W[:, i2:] -= E U[i1:i2, i2:]  (E = errs^T, rows x count).
    if (i2 < cols)
      sgemm({ m: rows, n: cols - i2, k: count, transA: true, alpha: -1, beta: 1 },
        { data: errs, ld: rows }, { data: u, offset: i1 * cols + i2, ld: cols }, { data: wp, offset: i2, ld: cols });
  }
  return { dampUsed };
}

/**
 * gptqSolve on the device that holds the layer (backend/solvers.ts), for lowbit's group grids (in
 * act-order too): the same steps with W and H never leaving the device. Dead inputs and the
 * damping (with its retries) as the host's (diagonalAdd); U from one Cholesky and one triangular inverse;
 * blocks of `columnBlock` columns swept with exact in-block feedback (the sweep kernel is this
 * loop's inner part: fit a group's grid when it starts, round, e = (w - q) / U_jj, update the
 * block's later columns); after each block, the lazy update of all later columns as one product,
 * W[:, i2:] -= E U[i1:i2, i2:]. In f32 throughout, as the reference runs on a GPU (the host
 * version factors H in f64), so codes may differ at near-ties. The block size does not change
 * GPTQ's result (the lazy updates are exact), so the device's own block is used.
 */
export async function gptqOnDevice(layer: DeviceLayer, o: GptqOptions): Promise<{ grid: GroupGrid; dequantized: Tensor; dampUsed: number }> {
  const { solvers: s, rows, cols } = layer;
  // Act-order: W's columns and H's rows and columns gathered into the processing order on the device.
  const diagOrig = await s.diagonal(layer.hessian);
  const perm = o.actOrder ? diagonalOrder(diagOrig, true) : null;
  const hessian = perm ? s.permute(layer.hessian, perm, perm) : layer.hessian;
  const diag = perm ? Float32Array.from(perm, (p) => diagOrig[p]) : diagOrig;
  const keep = diag.map((d) => (d === 0 ? 0 : 1)); // dead inputs' weights are zeroed
  const w = perm ? s.permute(layer.weight, null, perm) : s.copy(layer.weight);
  if (keep.includes(0)) s.scaleColumns(w, keep);

  let dampUsed = o.damp, u: Tensor | null = null;
  for (let attempt = 0; attempt < 5 && !u; attempt++, dampUsed *= 10) {
    u = await s.inverseCholeskyUpper(hessian, Float32Array.from(diagonalAdd(diag, dampUsed)));
    if (u) break;
  }
  if (perm) s.free(hessian);
  if (!u) {
    s.free(w);
    throw new LowbitError(`GPTQ: the layer Hessian is not positive definite even with damping ${dampUsed / 10} (calibration inputs degenerate?)`);
  }

  const groupSize = effectiveGroupSize(o.groupSize, cols), bs = s.columnBlock;
  const sweep = s.groupGridSweep(w, { bits: o.bits, symmetric: o.symmetric, groupSize });
  const errors = s.zeros([rows, bs]);
  for (let i1 = 0; i1 < cols; i1 += bs) {
    const i2 = Math.min(cols, i1 + bs);
    sweep.columns(i1, i2 - i1, { u, errors });
    if (i2 < cols)
      s.gemm({ tensor: w, offset: i2, ld: cols }, { tensor: errors, offset: 0, ld: bs }, { tensor: u, offset: i1 * cols + i2, ld: cols },
        { m: rows, n: cols - i2, k: i2 - i1, alpha: -1, beta: 1 });
  }
  const { codes, scales, zeros } = await sweep.read();
  sweep.free();
  s.free(errors);
  s.free(u);
  const grid: GroupGrid = { rows, cols, bits: o.bits, symmetric: o.symmetric, groupSize, codes, scales, zeros };
  return { ...storedOrderOnDevice(s, grid, w, perm), dampUsed };
}

/**
 * With quantized activations, as `quantize` does on the host: GPTQ on the act-aware target W_eff
 * (act-aware.ts) with Hessian Sqq. LRC's W_hat-step passes its low-rank term and the Sqq factor it
 * keeps across iterations; without them there is no low-rank term and the factor is made here.
 */
export async function actAwareGptqOnDevice(layer: DeviceLayer, o: GptqOptions, step: { low: DeviceLowRank | null; sqqFactor: Tensor } | null = null): Promise<{ grid: GroupGrid; dequantized: Tensor; dampUsed: number }> {
  const { solvers: s, rows, cols } = layer;
  const { qq, xq } = layer.quantizedInput!;
  const factor = step?.sqqFactor ?? await dampedInverseFactor(s, qq, o.damp, 'the quantized-input Hessian');
  const target = activationAwareTargetOnDevice(s, layer.weight, step?.low ?? null, xq, factor, rows, cols);
  if (!step) s.free(factor);
  try {
    return await gptqOnDevice({ ...layer, weight: target, hessian: qq }, o);
  } finally {
    s.free(target);
  }
}

export function gptqOptions(o: QuantOptions): GptqOptions {
  return {
    bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric,
    damp: Number(o.extra.damp ?? 0.01), actOrder: o.extra.actOrder === true, blockSize: Number(o.extra.blockSize ?? 128),
  };
}

export const GPTQ_OPTIONS = {
  damp: { type: 'number', description: 'Hessian damping, fraction of mean diag(H)', default: 0.01, min: 0, max: 10 },
  actOrder: { type: 'boolean', description: 'quantize columns by decreasing H_jj (desc_act); groups keep a g_idx', default: false, negatable: true },
  blockSize: { type: 'int', description: 'columns per lazy-update block', default: 128, min: 1, max: 65536 },
} as const satisfies OptionSpecs;

export const gptq = {
  name: 'gptq',
  kind: 'calibrated',
  summary: 'GPTQ: column-by-column quantization with inverse-Hessian error feedback (Frantar et al. 2022)',
  options: GPTQ_OPTIONS,
  quantize: (w, rows, cols, stats, o) => {
    const opts = gptqOptions(o);
    // With quantized activations, GPTQ minimises the true layer error E||W x - W_hat x~||^2:
    // the act-aware target with Hessian X~^T X~ (act-aware.ts); otherwise the classic problem.
    const target = stats.quantizedInput ? activationAwareTarget(w, null, rows, cols, stats.quantizedInput, opts.damp) : w;
    const h = stats.quantizedInput ? stats.quantizedInput.qq : stats.hessian;
    if (o.ggmlType) {
      // A GGUF tensor: ggml's block grids, natural column order (ggml stores no g_idx).
      const type = BLOCK_TYPES[o.ggmlType];
      if (!type) return ggmlRtn(w, rows, cols, o.ggmlType); // a float type: nothing to solve
      if (opts.actOrder) throw new LowbitError('GPTQ --act-order cannot be stored in GGUF (ggml blocks are runs of consecutive inputs, with no g_idx)');
      const grid = new GgmlColumnGrid(type, rows, cols, hessianDiagonal(h, cols));
      const { dampUsed } = gptqSolve(target, rows, cols, h, opts, grid, columnOrder(h, cols, false));
      return { ...grid.weight(), report: { dampUsed } };
    }
    const { grid, dampUsed } = gptqQuantize(target, rows, cols, h, opts);
    return { ...groupGridWeight(grid), report: { dampUsed } };
  },
  // On the device: lowbit's group grids (ggml grids need the host).
  quantizeOnDevice: (layer, o) => {
    const opts = gptqOptions(o);
    if (o.ggmlType) return null;
    return (layer.quantizedInput ? actAwareGptqOnDevice(layer, opts) : gptqOnDevice(layer, opts))
      .then(({ grid, dequantized, dampUsed }) => ({ weight: { ...groupGridWeight(grid), report: { dampUsed } }, dequantized }));
  },
} satisfies CalibratedMethod;
