/**
 * Low-Rank Correction (Scetbon & Hensman, 2024, arXiv 2412.07902) for W4A4: beside each quantized
 * layer, full-precision U (q x k) and V (p x k) act on the UNquantized input,
 *     y = W_hat Q_a(x) + U V^T x,
 * chosen jointly with W_hat to minimise E||W x - W_hat x~ - U V^T x||^2 (x~ = Q_a(x)), by
 * alternating two steps (spec: ../shared/papers/lrc.md):
 *   W_hat-step (U, V fixed): GPTQ on the target W_eff = (W - U V^T) Sxq Sqq^-1 with Hessian Sqq
 *     (act-aware.ts; exact up to GPTQ's own approximation);
 *   (U, V)-step (W_hat fixed): reduced-rank regression of the residual r = W x - W_hat x~ on x.
 *     With C = E[r x^T] = W Sxx - W_hat Sqx and any factor Sxx = R R^T, substituting M = L R turns
 *     E||r - L x||^2 into const + ||M - C R^-T||_F^2, so the best rank-k L is
 *         L = [C R^-T]_k R^-1        (truncated SVD; Eckart-Young)
 *     The spec writes R = Sxx^(1/2) (an eigendecomposition); every factor gives the same L, and
 *     lowbit uses the Cholesky factor (f64, damped like GPTQ's Hessian): exact, cheaper, stable.
 *     U = left singular vectors x singular values, V = R^-T x right singular vectors.
 * Ranks are a fraction r of the matrix's parameters, the paper's "ranks equivalent to 10% of the
 * weight matrix size": k = round(r p q / (p + q)), so U and V together hold r p q numbers. U and V
 * are stored in f16 (counted as 16 bits each) and the evaluated model uses the f16 values.
 * With k = 0 the method is exactly W4A4 GPTQ on the act-aware target (the same code path).
 * Iterations default to 3 (the spec's suggestion; the paper's own count could not be checked).
 */
import { roundToF16, f16ToF32, f32ToF16 } from '../../io/float.js';
import { choleskyLower, invertLower } from '../../linalg/cholesky.js';
import { dgemm } from '../../linalg/gemm.js';
import { truncatedSvd } from '../../linalg/svd.js';
import { LowbitError } from '../../util/errors.js';
import { activationAwareTarget, damped, quantizedInputStats, layerRelativeError, type QuantizedInputStats } from '../act-aware.js';
import { dequantizeGroupGrid, groupGridWeight, type GroupGrid } from '../group-grid.js';
import type { CalibratedMethod, DeviceLayer, LayerStats, QuantOptions } from '../method.js';
import type { Tensor } from '../../backend/backend.js';
import { matrixView as whole, type DeviceSolvers } from '../../backend/solvers.js';
import { dampedInverseFactor, layerRelativeErrorOnDevice, type DeviceLowRank } from '../act-aware-device.js';
import { truncatedSvdOnDevice } from '../svd-device.js';
import type { OptionSpecs } from '../../util/options.js';
import type { QuantizedWeight, StoredTensor } from '../types.js';
import { actAwareGptqOnDevice, gptqOptions, gptqQuantize, type GptqOptions } from './gptq.js';

export interface LrcOptions extends GptqOptions {
  /** Fraction of the matrix's parameters spent on U and V. */
  rankFraction: number;
  iterations: number;
}

export interface LrcResult {
  grid: GroupGrid;
  /** U [rows, k] and V [cols, k] (f16-exact values), or null for k = 0. */
  u: Float32Array | null;
  v: Float32Array | null;
  rank: number;
  /** The layer's relative W4A4 error after each (W_hat, U V) iteration. */
  errors: number[];
}

export function lrcRank(rows: number, cols: number, fraction: number): number {
  return Math.max(0, Math.min(rows, cols, Math.round((fraction * rows * cols) / (rows + cols))));
}

/** L = U V^T as a dense [rows, cols] f64 matrix. */
export function lowRankProduct(u: Float32Array, v: Float32Array, rows: number, cols: number, k: number): Float64Array {
  const l = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k, transB: true }, { data: Float64Array.from(u) }, { data: Float64Array.from(v) }, { data: l });
  return l;
}

/**
 * The (U, V)-step: the best rank-k L for fixed W_hat (see the module comment), with U and V
 * rounded to f16 as they are stored.
 */
export function lowRankStep(w: Float32Array, wHat: Float32Array, rows: number, cols: number, k: number, sxx: Float64Array, q: QuantizedInputStats, damp: number): { u: Float32Array; v: Float32Array } {
  // C = W Sxx - W_hat Sqx  (Sqx = Sxq^T).
  const c = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k: cols }, { data: Float64Array.from(w) }, { data: sxx }, { data: c });
  dgemm({ m: rows, n: cols, k: cols, transB: true, alpha: -1, beta: 1 }, { data: Float64Array.from(wHat) }, { data: q.xq }, { data: c });
  // Sxx = R R^T (Cholesky, damped); M = C R^-T.
  const rInv = damped(sxx, cols, damp);
  if (choleskyLower(rInv, cols) !== 0) throw new LowbitError('LRC: the input covariance is not positive definite even with damping');
  invertLower(rInv, cols);
  const m = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k: cols, transB: true }, { data: c }, { data: rInv }, { data: m });
  const svd = truncatedSvd(m, rows, cols, k, { powerIterations: 8 });
  // U = U_s S, V = R^-T V_s.
  const u = new Float32Array(rows * svd.k), v64 = new Float64Array(cols * svd.k);
  for (let i = 0; i < rows; i++) for (let j = 0; j < svd.k; j++) u[i * svd.k + j] = roundToF16(svd.u[i * svd.k + j] * svd.s[j]);
  dgemm({ m: cols, n: svd.k, k: cols, transA: true }, { data: rInv }, { data: svd.v }, { data: v64 });
  return { u, v: Float32Array.from(v64, roundToF16) };
}

export function lrcQuantize(w: Float32Array, rows: number, cols: number, stats: LayerStats, o: LrcOptions): LrcResult {
  const q = quantizedInputStats(stats, 'lrc');
  const k = lrcRank(rows, cols, o.rankFraction);
  let low: Float64Array | null = null;
  let u: Float32Array | null = null, v: Float32Array | null = null;
  let grid: GroupGrid | null = null;
  const errors: number[] = [];
  for (let it = 0; it < Math.max(1, o.iterations); it++) {
    // W_hat-step: GPTQ on the act-aware target, Hessian Sqq.
    const target = activationAwareTarget(w, low, rows, cols, q, o.damp);
    grid = gptqQuantize(target, rows, cols, q.qq, o).grid;
    if (k === 0) {
      errors.push(layerRelativeError(w, dequantizeGroupGrid(grid), null, rows, cols, stats));
      break;
    }
    // (U, V)-step for this W_hat.
    ({ u, v } = lowRankStep(w, dequantizeGroupGrid(grid), rows, cols, k, stats.hessian, q, o.damp));
    low = lowRankProduct(u, v, rows, cols, k);
    errors.push(layerRelativeError(w, dequantizeGroupGrid(grid), low, rows, cols, stats));
  }
  return { grid: grid!, u, v, rank: k, errors };
}

/**
 * lowRankStep on the device: C = W Sxx - W_hat Sqx, M = C R^-T for a factor Sxx = R R^T (here
 * R^-1 = U from the damped inverse factor, Sxx^-1 = U^T U), the truncated SVD of M there, then
 * U = U_s S and V = R^-T V_s read back and rounded to f16 as stored.
 */
export async function lowRankStepOnDevice(s: DeviceSolvers, w: Tensor, wHat: Tensor, rows: number, cols: number, k: number, stats: { sxx: Tensor; xq: Tensor; sxxFactor: Tensor }): Promise<{ u: Float32Array; v: Float32Array; rank: number }> {
  const c = s.zeros([rows, cols]), m = s.zeros([rows, cols]);
  s.gemm(whole(c), whole(w), whole(stats.sxx), { m: rows, n: cols, k: cols });
  s.gemm(whole(c), whole(wHat), whole(stats.xq), { m: rows, n: cols, k: cols, transB: true, alpha: -1, beta: 1 });
  s.gemm(whole(m), whole(c), whole(stats.sxxFactor), { m: rows, n: cols, k: cols, transB: true });
  s.free(c);
  const svd = await truncatedSvdOnDevice(s, m, rows, cols, k, { powerIterations: 8 });
  s.free(m);
  s.scaleColumns(svd.u, Float32Array.from(svd.s));
  const v = s.zeros([cols, svd.k]);
  s.gemm(whole(v), whole(stats.sxxFactor), whole(svd.v), { m: cols, n: svd.k, k: cols, transA: true });
  const out = { u: (await s.read(svd.u)).map(roundToF16), v: (await s.read(v)).map(roundToF16), rank: svd.k };
  [svd.u, svd.v, v].forEach((t) => s.free(t));
  return out;
}

/**
 * lrcQuantize with the layer on the device: the same alternation, each step there (the target
 * and error in act-aware-device.ts, GPTQ on Sqq by actAwareGptqOnDevice, lowRankStepOnDevice); only U and
 * V (for their f16 rounding), the codes and the errors come back. Rank 0 is W4A4 GPTQ on the
 * act-aware target (what gptq's quantizeOnDevice runs with quantized activations).
 */
export async function lrcOnDevice(layer: DeviceLayer, o: LrcOptions): Promise<LrcResult & { dequantized: Tensor }> {
  const { solvers: s, rows, cols, weight: w } = layer;
  if (!layer.quantizedInput) throw new LowbitError('lrc needs activation quantization statistics: pass --a-bits below 16');
  const { qq, xq } = layer.quantizedInput;
  const stats = { hessian: layer.hessian, quantized: layer.quantizedInput };
  const k = lrcRank(rows, cols, o.rankFraction);
  const sqqFactor = await dampedInverseFactor(s, qq, o.damp, 'the quantized-input Hessian');
  const sxxFactor = k > 0 ? await dampedInverseFactor(s, layer.hessian, o.damp, 'LRC: the input covariance') : null;
  let low: DeviceLowRank | null = null, u: Float32Array | null = null, v: Float32Array | null = null;
  let wHat: Tensor | null = null, grid: GroupGrid | null = null;
  const errors: number[] = [];
  try {
    for (let it = 0; it < Math.max(1, o.iterations); it++) {
      // W_hat-step: GPTQ on the act-aware target, Hessian Sqq.
      const solved = await actAwareGptqOnDevice(layer, o, { low, sqqFactor });
      if (wHat) s.free(wHat);
      ({ grid, dequantized: wHat } = solved);
      if (k === 0) {
        errors.push(await layerRelativeErrorOnDevice(s, w, wHat, null, stats, rows, cols));
        break;
      }
      // (U, V)-step for this W_hat.
      ({ u, v } = await lowRankStepOnDevice(s, w, wHat, rows, cols, k, { sxx: layer.hessian, xq, sxxFactor: sxxFactor! }));
      if (low) [low.u, low.v].forEach((t) => s.free(t));
      low = { u: s.upload(u, [rows, k]), v: s.upload(v, [cols, k]), rank: k };
      errors.push(await layerRelativeErrorOnDevice(s, w, wHat, low, stats, rows, cols));
    }
  } finally {
    [sqqFactor, sxxFactor, low?.u, low?.v].forEach((t) => t && s.free(t));
  }
  return { grid: grid!, dequantized: wHat!, u, v, rank: k, errors };
}

export function lrcOptions(o: QuantOptions): LrcOptions {
  return { ...gptqOptions(o), rankFraction: Number(o.extra.lrcRank ?? 0.1), iterations: Number(o.extra.lrcIterations ?? 3) };
}

/** Saved low-rank factors: `<layer>.lrc_u` F16 [out, k] and `<layer>.lrc_v` F16 [in, k]. */
export function lowRankTensors(u: Float32Array, v: Float32Array, rows: number, cols: number, k: number): Record<string, StoredTensor> {
  return {
    lrc_u: { dtype: 'F16', shape: [rows, k], data: f32ToF16(u) },
    lrc_v: { dtype: 'F16', shape: [cols, k], data: f32ToF16(v) },
  };
}

/** The low-rank factors of a saved layer, if it has them. */
export function lowRankFrom(t: Record<string, StoredTensor>): { u: Float32Array; v: Float32Array; k: number } | null {
  if (!t.lrc_u || !t.lrc_v) return null;
  return { u: f16ToF32(t.lrc_u.data as Uint16Array), v: f16ToF32(t.lrc_v.data as Uint16Array), k: t.lrc_u.shape[1] };
}

export const LRC_OPTIONS = {
  lrcRank: { type: 'number', description: 'U and V together hold this fraction of the weight matrix\'s parameters: k = r p q / (p + q)', default: 0.1, min: 0, max: 1 },
  lrcIterations: { type: 'int', description: 'alternations of the W_hat-step (GPTQ) and the (U, V)-step', default: 3, min: 1, max: 100 },
} as const satisfies OptionSpecs;

/** What is saved of an LRC layer: its grid, U and V, and the errors of its iterations. */
function lrcWeight(res: LrcResult, rows: number, cols: number): QuantizedWeight {
  const base = groupGridWeight(res.grid);
  if (!res.u || !res.v) return { ...base, report: { rank: 0, lastIterationRelError: res.errors.at(-1) ?? 0 } };
  return {
    ...base,
    tensors: { ...base.tensors, ...lowRankTensors(res.u, res.v, rows, cols, res.rank) },
    bits: { ...base.bits, lowRank: 16 * res.rank * (rows + cols) },
    lowRank: { u: res.u, v: res.v, rank: res.rank },
    report: { rank: res.rank, firstIterationRelError: res.errors[0], lastIterationRelError: res.errors.at(-1)! },
  };
}

export const lrc = {
  name: 'lrc',
  kind: 'calibrated',
  summary: 'Low-Rank Correction for W4A4: GPTQ weights + full-precision U V^T on the unquantized input (Scetbon & Hensman 2024)',
  options: LRC_OPTIONS,
  quantize: (w, rows, cols, stats, o): QuantizedWeight => lrcWeight(lrcQuantize(w, rows, cols, stats, lrcOptions(o)), rows, cols),
  // On the device: lowbit's group grids (ggml grids need the host).
  quantizeOnDevice: (layer, o) => {
    if (o.ggmlType) return null;
    return lrcOnDevice(layer, lrcOptions(o)).then((res) => ({ weight: lrcWeight(res, layer.rows, layer.cols), dequantized: res.dequantized }));
  },
} satisfies CalibratedMethod;
