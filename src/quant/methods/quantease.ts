/**
 * QuantEase (Behdin et al., 2023, arXiv 2309.01885): layer-wise quantization by cyclic coordinate
 * descent (CD) on
 *     f(W_hat) = ||W X - W_hat X||_F^2 = tr((W - W_hat) S (W - W_hat)^T),   S = X X^T  (cols x cols)
 * with every W_hat_ij on its group's grid. Fixing all but column j, f is a quadratic in that
 * column with curvature S_jj, and every row decouples, so the exact coordinate minimiser over the
 * grid for a whole column is (paper, eq. 6-7)
 *     beta_j = ((W S)_j - (W_hat S)_j + W_hat_j S_jj) / S_jj,      W_hat_j = quant(beta_j).
 * Only matrix-vector work: no inverse, no Cholesky. R = W_hat S is kept current; changing column j
 * by d adds d S_j: to R (rank 1). Here that update is blocked the way GPTQ blocks its error
 * feedback: inside a sub-block of 8 columns it is applied column by column; after the sub-block,
 * its accumulated change reaches the rest of the current block of 128 columns through one GEMM;
 * after the block, all other columns through one GEMM. One sweep is O(rows x cols^2) flops, nearly
 * all of them in GEMM.
 *
 * Schedule (the authors' release, linkedin/QuantEase, which the spec follows):
 *  - W_hat starts at W; columns in act-order (decreasing S_jj) unless disabled;
 *  - grids are fitted once, to the ORIGINAL W's groups (min/max, in the processing order), no damping;
 *  - 30 sweeps; on sweeps s (0-based) with s % relaxEvery == 1, s <= 25 and s not the last, the
 *    column update is left unquantized (an exact continuous CD step); `relaxEvery` 0 disables it.
 *    f never increases over consecutive quantized (or relaxed) sweeps, but may rise on the first
 *    quantized sweep after a relaxed one;
 *  - dead inputs (S_jj = 0): the column is just rounded;
 *  - optional early stop when a quantized sweep improves f by less than `tolerance` (relative)
 *    over the previous quantized sweep.
 *
 * The outlier-aware variant (paper section 4) writes W_hat = Q + H with Q on the grid and H sparse
 * in full precision, and alternates a CD sweep on Q (target W - H) with one proximal-gradient step
 * on H: H <- HardThreshold_s(H - eta grad_H f), grad_H f = 2 (Q + H - W) S, eta = 1 / (2 lambda_max(S)),
 * lambda_max by power iteration. H starts as the s largest entries of W (or the largest columns,
 * `column` structure), Q's grids are fitted to W with those removed.
 */
import { sgemm } from '../../linalg/gemm.js';
import { type GroupGrid, GroupColumnGrid, effectiveGroupSize, groupGridFromTensors, groupGridWeight, dequantizeGroupGrid, storedOrderOnDevice } from '../group-grid.js';
import type { CalibratedMethod, DeviceLayer, QuantOptions } from '../method.js';
import type { Tensor } from '../../backend/backend.js';
import type { OptionSpecs } from '../../util/options.js';
import type { QuantizedWeight, WeightFormat } from '../types.js';
import { columnOrder, diagonalOrder } from './gptq.js';
import type { ColumnGrid } from '../column-grid.js';
import { GgmlColumnGrid, hessianDiagonal } from '../ggml/ggml-column-grid.js';
import { BLOCK_TYPES } from '../ggml/registry.js';
import { ggmlRtn } from '../ggml/ggml-weight.js';
import { LowbitError } from '../../util/errors.js';
import { topKByMagnitude } from '../select.js';
import { f16ToF32, f32ToF16, roundToF16 } from '../../io/float.js';

export interface QuantEaseOptions {
  bits: number;
  groupSize: number;
  symmetric: boolean;
  /** Number of CD sweeps over all columns (authors: 30). */
  iterations: number;
  /** Relax (leave unquantized) sweeps s with s % relaxEvery == 1, s <= 25; 0 disables. */
  relaxEvery: number;
  actOrder: boolean;
  /** Stop when a quantized sweep improves f by less than this fraction; 0 runs every sweep. */
  tolerance: number;
  /** Outlier-aware variant: fraction of weights kept in full precision (0 = plain QuantEase). */
  outlierRatio: number;
  outlierStructure: 'entry' | 'column';
}

export interface QuantEaseResult {
  grid: GroupGrid;
  /** Sparse full-precision part (outlier-aware variant), in original column order, f16-exact values. */
  outliers: SparseMatrix | null;
  /** f(W_hat) / f(0) after every sweep (the relative layer objective on the calibration data). */
  objectives: number[];
  relaxed: boolean[];
  sweeps: number;
  outlierStructure: 'entry' | 'column';
}

export interface SparseMatrix {
  /** Flat positions r * cols + c, increasing. */
  index: Int32Array;
  values: Float32Array;
}

/** Columns per sub-block (rank-1 updates) and per block (GEMM to the rest of the block). */
const SUB = 8;
const BLOCK = 128;
/** Sweeps between exact recomputations of R = W_hat S. */
const RECOMPUTE_EVERY = 8;

/** The relaxed sweeps of the authors' schedule. */
export function isRelaxed(sweep: number, iterations: number, relaxEvery: number): boolean {
  return relaxEvery > 0 && sweep % relaxEvery === 1 && sweep <= 25 && sweep !== iterations - 1;
}

/** Largest eigenvalue of the symmetric PSD S by power iteration (the Lipschitz constant of grad f / 2). */
export function largestEigenvalue(s: Float32Array, n: number, iterations = 100): number {
  let v = new Float64Array(n).fill(1 / Math.sqrt(n));
  let lambda = 0;
  const sv = new Float64Array(n);
  for (let it = 0; it < iterations; it++) {
    sv.fill(0);
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += s[i * n + j] * v[j];
      sv[i] = acc;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += sv[i] * sv[i];
    norm = Math.sqrt(norm);
    if (norm === 0) return 0;
    const next = sv.map((x) => x / norm);
    if (Math.abs(norm - lambda) <= 1e-7 * norm) return norm;
    lambda = norm;
    v = next;
  }
  return lambda;
}

export function quanteaseQuantize(w: Float32Array, rows: number, cols: number, hessian: Float64Array, o: QuantEaseOptions): QuantEaseResult {
  const perm = columnOrder(hessian, cols, o.actOrder);
  const grid = new GroupColumnGrid(rows, cols, o, o.actOrder ? perm : null);
  return { ...quanteaseSolve(w, rows, cols, hessian, o, grid, perm), grid: grid.grid };
}

/**
 * QuantEase's sweeps on any ColumnGrid (lowbit's group grids, a ggml block type); `perm` is the
 * processing order. The grids are fitted once, to the target's groups in that order.
 */
export function quanteaseSolve(w: Float32Array, rows: number, cols: number, hessian: Float64Array, o: Omit<QuantEaseOptions, 'bits' | 'groupSize' | 'symmetric'>, grid: ColumnGrid, perm: Int32Array): Omit<QuantEaseResult, 'grid'> {
  const gs = grid.groupSize;
  const n = rows * cols;

  // Everything is kept transposed ([cols, rows]: column j of W is row j here, contiguous), in the
  // processing order: the target W^T, S (f32, as in the authors' code), W_hat^T.
  const s = new Float32Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) s[i * cols + j] = hessian[perm[i] * cols + perm[j]];
  const target = new Float32Array(n);
  for (let j = 0; j < cols; j++) for (let r = 0; r < rows; r++) target[j * rows + r] = w[r * cols + perm[j]];

  // Outlier-aware: H starts as the largest entries (or columns) of W; Q's target is W - H.
  const outlierCount = Math.round(o.outlierRatio * n);
  let h: Float32Array | null = null;
  if (outlierCount > 0) {
    h = new Float32Array(n);
    hardThreshold(target, h, rows, cols, outlierCount, o.outlierStructure);
  }
  const qTarget = h ? target.map((x, i) => x - h![i]) : target;

  // Grids fitted once to the (outlier-free) target, groups in processing order.
  const groupVals = new Float32Array(gs);
  for (let r = 0; r < rows; r++)
    for (let c0 = 0; c0 < cols; c0 += gs) {
      const count = Math.min(gs, cols - c0);
      for (let k = 0; k < count; k++) groupVals[k] = qTarget[(c0 + k) * rows + r];
      grid.fit(r, c0, groupVals, count);
    }

  const q = qTarget.slice(); // W_hat^T (the grid part), starting at its target
  const p = new Float32Array(n); // P^T = S (W - H)^T
  const r = new Float32Array(n); // R^T = S W_hat^T, kept current column by column
  // tr(W S W^T), the objective's scale, from P = W S (which is also the CD's P when there are no outliers).
  times(s, target, p, rows, cols);
  let wsw = 0;
  for (let i = 0; i < n; i++) wsw += target[i] * p[i];
  const lipschitzStep = h ? 1 / (2 * largestEigenvalue(s, cols)) : 0;

  const objectives: number[] = [], relaxedLog: boolean[] = [];
  let lastQuantized = Infinity;
  let sweep = 0;
  const delta = new Float32Array(BLOCK * rows); // change of the current block's columns in this sweep
  const rBlock = new Float32Array(BLOCK * rows);
  if (h) times(s, qTarget, p, rows, cols);
  for (; sweep < o.iterations; sweep++) {
    const relaxed = isRelaxed(sweep, o.iterations, o.relaxEvery);
    // R is maintained through every column update below; recomputing it exactly now and then
    // keeps f32 rounding from accumulating over many sweeps.
    if (sweep % RECOMPUTE_EVERY === 0) times(s, q, r, rows, cols);
    for (let j0 = 0; j0 < cols; j0 += BLOCK) {
      const j1 = Math.min(cols, j0 + BLOCK), count = j1 - j0;
      // The block's columns of R, updated inside the block as its columns change (Gauss-Seidel);
      // r itself keeps the pre-block values until the block's change is applied to all of it.
      rBlock.set(r.subarray(j0 * rows, j1 * rows));
      for (let i = 0; i < count; i++) {
        const j = j0 + i, sjj = s[j * cols + j];
        const col = j * rows, d = i * rows;
        for (let row = 0; row < rows; row++) {
          const old = q[col + row];
          // beta_j = ((W S)_j - (W_hat S)_j + W_hat_j S_jj) / S_jj  (dead input: beta = W_hat_j, just rounded)
          const beta = sjj === 0 ? old : (p[col + row] - rBlock[d + row] + old * sjj) / sjj;
          // A quantized step stores the code; the last sweep is never relaxed, so the stored codes are W_hat's.
          const next = relaxed && sjj !== 0 ? beta : grid.round(row, j, beta);
          q[col + row] = next;
          delta[d + row] = next - old;
        }
        // R_k += d_j S_jk for the later columns of the sub-block, one column at a time ...
        const s2 = Math.min(count, (Math.floor(i / SUB) + 1) * SUB);
        for (let k = i + 1; k < s2; k++) {
          const sjk = s[j * cols + j0 + k];
          if (sjk === 0) continue;
          const dst = k * rows;
          for (let row = 0; row < rows; row++) rBlock[dst + row] += delta[d + row] * sjk;
        }
        // ... and at the end of a sub-block, for the rest of the block with one GEMM.
        if (i + 1 === s2 && s2 < count) {
          const s1 = s2 - SUB;
          sgemm({ m: count - s2, n: rows, k: SUB, transA: true, beta: 1 },
            { data: s, offset: (j0 + s1) * cols + j0 + s2, ld: cols }, { data: delta, offset: s1 * rows, ld: rows }, { data: rBlock, offset: s2 * rows, ld: rows });
        }
      }
      // After the block, R^T += S[:, block] D_block for every column (the block's own included).
      sgemm({ m: cols, n: rows, k: count, beta: 1 }, { data: s, offset: j0, ld: cols }, { data: delta, ld: rows }, { data: r, ld: rows });
    }
    // H-step of the outlier-aware variant: one projected gradient step, then the target moves.
    if (h) {
      proximalStep(q, h, target, s, rows, cols, lipschitzStep, outlierCount, o.outlierStructure);
      for (let i = 0; i < n; i++) qTarget[i] = target[i] - h[i];
      times(s, qTarget, p, rows, cols);
    }
    // f = tr((T - Q) S (T - Q)^T) with T = W - H: from P = T S and R = Q S in O(rows x cols).
    let tp = 0, qp = 0, qr = 0;
    for (let i = 0; i < n; i++) {
      tp += qTarget[i] * p[i];
      qp += q[i] * p[i];
      qr += q[i] * r[i];
    }
    const f = wsw > 0 ? Math.max(0, tp - 2 * qp + qr) / wsw : 0;
    objectives.push(f);
    relaxedLog.push(relaxed);
    if (!relaxed) {
      if (o.tolerance > 0 && lastQuantized - f < o.tolerance * lastQuantized) {
        sweep++;
        break;
      }
      lastQuantized = f;
    }
  }

  let outliers: SparseMatrix | null = null;
  if (h) {
    const entries: [number, number][] = [];
    for (let j = 0; j < cols; j++)
      for (let row = 0; row < rows; row++) if (h[j * rows + row] !== 0) entries.push([row * cols + perm[j], roundToF16(h[j * rows + row])]);
    entries.sort((a, b) => a[0] - b[0]);
    outliers = { index: Int32Array.from(entries, (e) => e[0]), values: Float32Array.from(entries, (e) => e[1]) };
  }
  return { outliers, objectives, relaxed: relaxedLog, sweeps: sweep, outlierStructure: o.outlierStructure };
}

/**
 * quanteaseSolve on the device that holds the layer (backend/solvers.ts), for lowbit's group grids
 * (plain QuantEase: the outlier-aware variant runs on the host): the same schedule, in W's own
 * layout [rows, cols] instead of transposed. W and S gathered into the processing order; grids
 * fitted once to W; W_hat from W; P = W S; R = W_hat S recomputed every RECOMPUTE_EVERY sweeps and
 * otherwise kept current block by block (the sweep kernel is exact inside a block of `columnBlock`
 * columns, then R += D S[block, :] as one product). f after each sweep is
 *     f = tr((W - W_hat) S (W - W_hat)^T) / tr(W S W^T) = sum((W - W_hat) o (P - R)) / sum(W o P),
 * summed on the device and read once at the end (after each quantized sweep with a tolerance).
 * In f32 throughout, as the host version, but in a different order of operations, so codes may
 * differ at near-ties.
 */
export async function quanteaseOnDevice(layer: DeviceLayer, o: QuantEaseOptions): Promise<{ grid: GroupGrid; dequantized: Tensor; objectives: number[]; relaxed: boolean[]; sweeps: number }> {
  const { solvers: s, rows, cols } = layer;
  const diag = await s.diagonal(layer.hessian);
  const perm = o.actOrder ? diagonalOrder(diag, true) : null;
  const hs = perm ? s.permute(layer.hessian, perm, perm) : layer.hessian;
  const target = perm ? s.permute(layer.weight, null, perm) : layer.weight;
  const at = (tensor: Tensor, offset = 0, ld = cols) => ({ tensor, offset, ld });
  const bs = s.columnBlock;
  const q = s.copy(target), p = s.zeros([rows, cols]), r = s.zeros([rows, cols]), delta = s.zeros([rows, bs]);
  s.gemm(at(p), at(target), at(hs), { m: rows, n: cols, k: cols });
  const groupSize = effectiveGroupSize(o.groupSize, cols);
  const sweeper = s.coordinateSweep(q, target, { p, r, s: hs, delta }, { bits: o.bits, symmetric: o.symmetric, groupSize });
  // Slot k: f's numerator after sweep k; the last slot: tr(W S W^T).
  const sums = s.zeros([o.iterations + 1]);
  s.differenceDot(sums, o.iterations, target, null, p, null);
  const relaxedLog: boolean[] = [];
  let lastQuantized = Infinity, sweep = 0;
  const objective = (v: Float32Array, k: number) => (v[o.iterations] > 0 ? Math.max(0, v[k]) / v[o.iterations] : 0);
  for (; sweep < o.iterations; sweep++) {
    const relaxed = isRelaxed(sweep, o.iterations, o.relaxEvery);
    relaxedLog.push(relaxed);
    if (sweep % RECOMPUTE_EVERY === 0) s.gemm(at(r), at(q), at(hs), { m: rows, n: cols, k: cols });
    for (let j0 = 0; j0 < cols; j0 += bs) {
      const count = Math.min(bs, cols - j0);
      sweeper.columns(j0, count, relaxed);
      s.gemm(at(r), at(delta, 0, bs), at(hs, j0 * cols), { m: rows, n: cols, k: count, beta: 1 });
    }
    s.differenceDot(sums, sweep, target, q, p, r);
    if (o.tolerance > 0 && !relaxed) {
      const f = objective(await s.read(sums), sweep);
      if (lastQuantized - f < o.tolerance * lastQuantized) {
        sweep++;
        break;
      }
      lastQuantized = f;
    }
  }
  const v = await s.read(sums);
  const { codes, scales, zeros } = await sweeper.read();
  sweeper.free();
  [p, r, delta, sums, ...(perm ? [hs, target] : [])].forEach((t) => s.free(t));
  const grid: GroupGrid = { rows, cols, bits: o.bits, symmetric: o.symmetric, groupSize, codes, scales, zeros };
  // relaxedLog has one entry a sweep run (an early stop leaves the loop after logging its sweep).
  return { ...storedOrderOnDevice(s, grid, q, perm), objectives: relaxedLog.map((_, k) => objective(v, k)), relaxed: relaxedLog, sweeps: sweep };
}

/** C^T = S A^T for transposed [cols, rows] operands (S symmetric, so this is (A S)^T). */
function times(s: Float32Array, aT: Float32Array, cT: Float32Array, rows: number, cols: number): void {
  sgemm({ m: cols, n: rows, k: cols }, { data: s }, { data: aT }, { data: cT });
}

/**
 * Keeps the `count` largest-magnitude entries of x in h (zeroing the rest): by entry, or by whole
 * input columns ranked by their norm (count / rows columns). x and h are transposed [cols, rows].
 */
function hardThreshold(x: Float32Array, h: Float32Array, rows: number, cols: number, count: number, structure: 'entry' | 'column'): void {
  h.fill(0);
  if (structure === 'column') {
    const keep = Math.max(1, Math.round(count / rows));
    const norms = new Float64Array(cols);
    for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) norms[c] += x[c * rows + r] ** 2;
    const order = Array.from({ length: cols }, (_, c) => c).sort((a, b) => norms[b] - norms[a]).slice(0, keep);
    for (const c of order) h.set(x.subarray(c * rows, (c + 1) * rows), c * rows);
    return;
  }
  const mask = new Uint8Array(x.length);
  topKByMagnitude(x, count, mask);
  for (let i = 0; i < x.length; i++) if (mask[i]) h[i] = x[i];
}

/** H <- HT_s(H - eta * 2 (Q + H - W) S), all transposed. */
function proximalStep(q: Float32Array, h: Float32Array, target: Float32Array, s: Float32Array, rows: number, cols: number, eta: number, count: number, structure: 'entry' | 'column'): void {
  const resid = new Float32Array(rows * cols);
  for (let i = 0; i < resid.length; i++) resid[i] = q[i] + h[i] - target[i];
  const grad = new Float32Array(rows * cols);
  times(s, resid, grad, rows, cols);
  const moved = new Float32Array(rows * cols);
  for (let i = 0; i < moved.length; i++) moved[i] = h[i] - eta * 2 * grad[i];
  hardThreshold(moved, h, rows, cols, count, structure);
}

export function quanteaseOptions(o: QuantOptions): QuantEaseOptions {
  const structure = String(o.extra.outlierStructure ?? 'entry');
  return {
    bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric,
    iterations: Number(o.extra.iterations ?? 30), relaxEvery: Number(o.extra.relaxEvery ?? 3),
    actOrder: o.extra.actOrder !== false, tolerance: Number(o.extra.tolerance ?? 0),
    outlierRatio: Number(o.extra.outlierRatio ?? 0), outlierStructure: structure === 'column' ? 'column' : 'entry',
  };
}

/**
 * Bits of the sparse outliers as a packed format stores them: per entry a 16-bit value and its
 * flat position; per whole column (column structure) its index and rows 16-bit values.
 */
export function sparseBits(count: number, rows: number, cols: number, structure: 'entry' | 'column'): number {
  if (structure === 'column') {
    const columns = count / rows;
    return columns * (rows * 16 + Math.ceil(Math.log2(cols)));
  }
  return count * (16 + Math.ceil(Math.log2(rows * cols)));
}

export function quanteaseWeight(res: QuantEaseResult): QuantizedWeight {
  const base = groupGridWeight(res.grid);
  const last = res.objectives[res.objectives.length - 1];
  const report = { sweeps: res.sweeps, firstSweepRelError: res.objectives[0], lastSweepRelError: last, outliers: res.outliers?.index.length ?? 0 };
  if (!res.outliers) return { ...base, report };
  // The grid part decoded when asked for (as groupGridWeight does), the outliers added on top.
  const { index, values } = res.outliers;
  return {
    ...base,
    format: SPARSE_OUTLIER_FORMAT.name,
    tensors: {
      ...base.tensors,
      outlier_index: { dtype: 'I32', shape: [index.length], data: index },
      outlier_values: { dtype: 'F16', shape: [values.length], data: f32ToF16(values) },
    },
    bits: { ...base.bits, outliers: sparseBits(index.length, res.grid.rows, res.grid.cols, res.outlierStructure) },
    dequantize: (out) => {
      const dense = base.dequantize(out);
      index.forEach((pos, k) => (dense[pos] += values[k]));
      return dense;
    },
    report,
  };
}

/** A group grid plus sparse f16 outliers added on top (QuantEase's outlier-aware variant). */
export const SPARSE_OUTLIER_FORMAT: WeightFormat = {
  name: 'group-grid+sparse',
  decode(t, p, rows, cols) {
    const dense = dequantizeGroupGrid(groupGridFromTensors(t, p, rows, cols));
    const index = t.outlier_index.data as Int32Array, values = f16ToF32(t.outlier_values.data as Uint16Array);
    for (let k = 0; k < index.length; k++) {
      if (index[k] < 0 || index[k] >= rows * cols) throw new Error(`outlier position ${index[k]} outside the ${rows}x${cols} weight`);
      dense[index[k]] += values[k];
    }
    return dense;
  },
};

export const QUANTEASE_OPTIONS = {
  iterations: { type: 'int', description: 'coordinate-descent sweeps over all columns', default: 30, min: 1, max: 1000 },
  relaxEvery: { type: 'int', description: 'leave sweeps s with s % n == 1 (s <= 25) unquantized; 0 = never', default: 3, min: 0, max: 1000 },
  actOrder: { type: 'boolean', description: 'process columns by decreasing S_jj (--no-act-order: natural order)', default: true, negatable: true },
  tolerance: { type: 'number', description: 'stop when a quantized sweep improves the objective by less than this fraction (0 = run all sweeps)', default: 0, min: 0, max: 1 },
} as const satisfies OptionSpecs;

export const QUANTEASE_OUTLIER_OPTIONS = {
  ...QUANTEASE_OPTIONS,
  outlierRatio: { type: 'number', description: 'fraction of weights kept as full-precision (f16) sparse outliers', default: 0.01, min: 0, max: 0.5 },
  outlierStructure: { type: 'string', description: 'outliers as individual entries or whole input columns', default: 'entry', choices: ['entry', 'column'] },
} as const satisfies OptionSpecs;

export const quantease = {
  name: 'quantease',
  kind: 'calibrated',
  summary: 'QuantEase: coordinate descent on ||WX - W_hat X||^2, matrix-vector work only (Behdin et al. 2023)',
  options: QUANTEASE_OPTIONS,
  quantize: (w, rows, cols, stats, o) => {
    const opts = { ...quanteaseOptions(o), outlierRatio: 0 };
    if (!o.ggmlType) return quanteaseWeight(quanteaseQuantize(w, rows, cols, stats.hessian, opts));
    // A GGUF tensor: ggml's block grids fitted to W's consecutive blocks, swept in natural order
    // (act-order would need a g_idx, which ggml does not store).
    const type = BLOCK_TYPES[o.ggmlType];
    if (!type) return ggmlRtn(w, rows, cols, o.ggmlType);
    const grid = new GgmlColumnGrid(type, rows, cols, hessianDiagonal(stats.hessian, cols));
    const res = quanteaseSolve(w, rows, cols, stats.hessian, { ...opts, actOrder: false }, grid, columnOrder(stats.hessian, cols, false));
    return { ...grid.weight(), report: { sweeps: res.sweeps, firstSweepRelError: res.objectives[0], lastSweepRelError: res.objectives[res.objectives.length - 1] } };
  },
  // On the device: lowbit's group grids (ggml grids need the host).
  quantizeOnDevice: (layer, o) => {
    if (o.ggmlType) return null;
    return quanteaseOnDevice(layer, { ...quanteaseOptions(o), outlierRatio: 0 })
      .then(({ dequantized, ...res }) => ({ weight: quanteaseWeight({ ...res, outliers: null, outlierStructure: 'entry' }), dequantized }));
  },
} satisfies CalibratedMethod;

export const quanteaseOutlier = {
  name: 'quantease-outlier',
  kind: 'calibrated',
  summary: 'outlier-aware QuantEase: grid part by CD + sparse full-precision outliers by iterative hard thresholding',
  options: QUANTEASE_OUTLIER_OPTIONS,
  quantize: (w, rows, cols, stats, o) => {
    if (o.ggmlType) throw new LowbitError('quantease-outlier keeps full-precision sparse outliers, which a GGUF tensor type cannot hold; use quantease, gptq or rtn for GGUF');
    const opts = quanteaseOptions(o);
    if (!(opts.outlierRatio > 0)) opts.outlierRatio = 0.01;
    return quanteaseWeight(quanteaseQuantize(w, rows, cols, stats.hessian, opts));
  },
} satisfies CalibratedMethod;
