/**
 * act-aware.ts on the device (backend/solvers.ts): the layer objective with quantized activations
 * and the activation-aware GPTQ target, from the statistics as device tensors. The same formulas,
 * in f32 products:
 *     E||W x - W_hat x~ - L x||^2 = tr(A Sxx A^T) - 2 tr(A Sxq W_hat^T) + tr(W_hat Sqq W_hat^T),  A = W - L,
 *     W_eff = (W - L) Sxq Sqq^-1   (Sqq damped as `damped` does).
 * Without quantized activations x~ = x: Sxq = Sqq = Sxx (H).
 */
import type { Tensor } from '../backend/backend.js';
import { matrixView as whole, type DeviceSolvers } from '../backend/solvers.js';
import { LowbitError } from '../util/errors.js';

/** The statistics of a layer's input on the device: H = Sxx, and with quantized activations Sqq and Sxq. */
export interface DeviceInputStats {
  hessian: Tensor;
  quantized?: { qq: Tensor; xq: Tensor };
}

/** A low-rank term L = U V^T on the device: U [rows, k], V [cols, k]. */
export interface DeviceLowRank {
  u: Tensor;
  v: Tensor;
  rank: number;
}

/** A = W - U V^T (or a copy of W). */
export function minusLowRank(s: DeviceSolvers, w: Tensor, low: DeviceLowRank | null, rows: number, cols: number): Tensor {
  const a = s.copy(w);
  if (low) s.gemm(whole(a), whole(low.u), whole(low.v), { m: rows, n: cols, k: low.rank, transB: true, alpha: -1, beta: 1 });
  return a;
}

/** The additions to the diagonal that `damped` makes: damp * mean(diag), plus 1 when the diagonal is all zero. */
export async function dampedDiagonal(s: DeviceSolvers, h: Tensor, damp: number): Promise<Float32Array> {
  const diag = await s.diagonal(h);
  const mean = diag.reduce((a, b) => a + b, 0) / diag.length;
  return new Float32Array(diag.length).fill(damp * mean + (mean === 0 ? 1 : 0));
}

/** U with (S + damping)^-1 = U^T U for a symmetric statistic S [n, n] (damped as `damped`), or a clear error. */
export async function dampedInverseFactor(s: DeviceSolvers, h: Tensor, damp: number, what: string): Promise<Tensor> {
  const u = await s.inverseCholeskyUpper(h, await dampedDiagonal(s, h, damp));
  if (!u) throw new LowbitError(`${what} is not positive definite even with damping`);
  return u;
}

/** W_eff = (W - L) Sxq Sqq^-1 with Sqq^-1 = U^T U (`sqqFactor` from dampedInverseFactor). */
export function activationAwareTargetOnDevice(s: DeviceSolvers, w: Tensor, low: DeviceLowRank | null, xq: Tensor, sqqFactor: Tensor, rows: number, cols: number): Tensor {
  const a = minusLowRank(s, w, low, rows, cols);
  const shape = { m: rows, n: cols, k: cols };
  const t1 = s.zeros([rows, cols]), t2 = s.zeros([rows, cols]);
  s.gemm(whole(t1), whole(a), whole(xq), shape);
  s.gemm(whole(t2), whole(t1), whole(sqqFactor), { ...shape, transB: true });
  s.gemm(whole(t1), whole(t2), whole(sqqFactor), shape);
  s.free(a);
  s.free(t2);
  return t1;
}

/**
 * The relative layer error E||W x - W_hat x~ - L x||^2 / E||W x||^2 (act-aware.ts's layerRelativeError),
 * written in small terms so that f32 keeps its digits: with D = W - L - W_hat and x~ = x - d,
 *     E = tr(D Sxx D^T) + 2 tr(D K1 W_hat^T) + tr(W_hat K2 W_hat^T),  K1 = Sxx - Sxq,  K2 = Sxx + Sqq - 2 Sxq
 * (K1 = E[x d^T], K2 = E[d d^T] in trace), where the host's expanded form would cancel large
 * terms. Without quantized activations only the first term.
 */
export async function layerRelativeErrorOnDevice(s: DeviceSolvers, w: Tensor, wHat: Tensor, low: DeviceLowRank | null, stats: DeviceInputStats, rows: number, cols: number): Promise<number> {
  return (await layerRelativeErrorsOnDevice(s, w, [{ wHat, low }], stats, rows, cols))[0];
}

/** layerRelativeErrorOnDevice for several candidates (W_hat, L) of one layer, with E||W x||^2 computed once. */
export async function layerRelativeErrorsOnDevice(s: DeviceSolvers, w: Tensor, candidates: { wHat: Tensor; low: DeviceLowRank | null }[], stats: DeviceInputStats, rows: number, cols: number): Promise<number[]> {
  const sxx = stats.hessian, n = candidates.length;
  const sums = s.zeros([1 + 3 * n]), p = s.zeros([rows, cols]);
  /** sums[slot] = tr(left stat right^T) = sum((left stat) o right). */
  const trace = (slot: number, left: Tensor, stat: Tensor, right: Tensor) => {
    s.gemm(whole(p), whole(left), whole(stat), { m: rows, n: cols, k: cols });
    s.differenceDot(sums, slot, p, null, right, null);
  };
  trace(0, w, sxx, w);
  let k1: Tensor | null = null, k2: Tensor | null = null;
  if (stats.quantized) {
    const { qq, xq } = stats.quantized;
    k1 = s.copy(sxx);
    k2 = s.copy(sxx);
    s.addScaled(k1, -1, xq);
    s.addScaled(k2, 1, qq);
    s.addScaled(k2, -2, xq);
  }
  candidates.forEach(({ wHat, low }, i) => {
    const d = minusLowRank(s, w, low, rows, cols);
    s.addScaled(d, -1, wHat);
    trace(1 + 3 * i, d, sxx, d);
    if (k1 && k2) {
      trace(2 + 3 * i, d, k1, wHat);
      trace(3 + 3 * i, wHat, k2, wHat);
    }
    s.free(d);
  });
  [k1, k2, p].forEach((t) => t && s.free(t));
  const values = await s.read(sums);
  s.free(sums);
  const ref = values[0];
  return candidates.map((_, i) => {
    const [dd, dk, kk] = values.subarray(1 + 3 * i, 4 + 3 * i);
    const err = dd + (stats.quantized ? 2 * dk + kk : 0);
    return ref > 0 ? Math.max(0, err) / ref : 0;
  });
}
