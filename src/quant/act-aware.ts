/**
 * Layer objectives when activations are quantized too (W4A4, LRC). The layer computes
 * y = W_hat x~ + L x with x~ = Q_a(x) the per-token quantized input and L = U V^T an optional
 * full-precision low-rank term on the unquantized input; its error on the calibration data is
 *     E||W x - W_hat x~ - L x||^2 = tr(A S A^T),  A = [W - L, -W_hat],  S = [[Sxx, Sxq], [Sqx, Sqq]]
 * with Sxx = X^T X, Sqq = X~^T X~, Sxq = X^T X~ (Sqx = Sxq^T), so only these p x p statistics
 * are needed, never the activations.
 */
import { choleskyLower, invertLower } from '../linalg/cholesky.js';
import { dgemm } from '../linalg/gemm.js';
import { LowbitError } from '../util/errors.js';
import type { LayerStats } from './method.js';

export interface QuantizedInputStats {
  /** Sqq = X~^T X~. */
  qq: Float64Array;
  /** Sxq = X^T X~. */
  xq: Float64Array;
}

/** The statistics of a layer whose inputs are quantized, or a clear error. */
export function quantizedInputStats(stats: LayerStats, method: string): QuantizedInputStats {
  if (!stats.quantizedInput) throw new LowbitError(`${method} needs activation quantization statistics: pass --a-bits below 16`);
  return stats.quantizedInput;
}

/** A + damp * mean(diag A) * I, as a new matrix. */
export function damped(a: Float64Array, n: number, damp: number): Float64Array {
  const out = a.slice();
  let mean = 0;
  for (let i = 0; i < n; i++) mean += a[i * n + i];
  mean /= n;
  for (let i = 0; i < n; i++) out[i * n + i] += damp * mean + (mean === 0 ? 1 : 0);
  return out;
}

/**
 * The best unconstrained W_hat for y = W_hat x~ + L x:  W_eff = (W - L) Sxq Sqq^-1 (Sqq damped),
 * so that E||(W - L) x - W_hat x~||^2 = const + E||(W_eff - W_hat) x~||^2: GPTQ on W_eff with
 * Hessian Sqq then minimises the true W4A4 layer error.
 */
export function activationAwareTarget(w: Float32Array, low: Float64Array | null, rows: number, cols: number, q: QuantizedInputStats, damp: number): Float32Array {
  const wl = Float64Array.from(w);
  if (low) for (let i = 0; i < wl.length; i++) wl[i] -= low[i];
  const m = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k: cols }, { data: wl }, { data: q.xq }, { data: m });
  const l = damped(q.qq, cols, damp);
  if (choleskyLower(l, cols) !== 0) throw new LowbitError('the quantized-input Hessian is not positive definite even with damping');
  invertLower(l, cols); // l = Lc^-1, Sqq^-1 = Lc^-T Lc^-1
  const t = new Float64Array(rows * cols), out = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k: cols, transB: true }, { data: m }, { data: l }, { data: t });
  dgemm({ m: rows, n: cols, k: cols }, { data: t }, { data: l }, { data: out });
  return Float32Array.from(out);
}

/**
 * The layer's relative output error E||W x - W_hat x~ - L x||^2 / E||W x||^2 (see the module
 * comment), in f64, in row chunks. Without quantized-input statistics x~ = x, and with L = null this
 * is the classic ||W X - W_hat X||^2 / ||W X||^2 = tr(dW H dW^T) / tr(W H W^T) of GPTQ and QuantEase.
 */
export function layerRelativeError(w: Float32Array, wHat: Float32Array, low: Float64Array | null, rows: number, cols: number, stats: LayerStats): number {
  const sxx = stats.hessian, q = stats.quantizedInput;
  const chunk = Math.max(1, Math.min(rows, Math.floor(8_000_000 / cols)));
  const a1 = new Float64Array(chunk * cols), a2 = new Float64Array(chunk * cols);
  const p1 = new Float64Array(chunk * cols), p2 = new Float64Array(chunk * cols), p3 = new Float64Array(chunk * cols);
  let err = 0, ref = 0;
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const mRows = Math.min(chunk, rows - r0), n = mRows * cols;
    for (let i = 0; i < n; i++) {
      a1[i] = w[r0 * cols + i] - (low ? low[r0 * cols + i] : 0);
      a2[i] = wHat[r0 * cols + i];
    }
    // tr(A1 Sxx A1^T) - 2 tr(A1 Sxq A2^T) + tr(A2 Sqq A2^T), and tr(W Sxx W^T) for the reference.
    dgemm({ m: mRows, n: cols, k: cols }, { data: a1 }, { data: sxx }, { data: p1 });
    dgemm({ m: mRows, n: cols, k: cols }, { data: a1 }, { data: q ? q.xq : sxx }, { data: p2 });
    dgemm({ m: mRows, n: cols, k: cols }, { data: a2 }, { data: q ? q.qq : sxx }, { data: p3 });
    for (let i = 0; i < n; i++) err += a1[i] * p1[i] - 2 * a2[i] * p2[i] + a2[i] * p3[i];
    if (low) {
      for (let i = 0; i < n; i++) a1[i] = w[r0 * cols + i];
      dgemm({ m: mRows, n: cols, k: cols }, { data: a1 }, { data: sxx }, { data: p1 });
    }
    for (let i = 0; i < n; i++) ref += a1[i] * p1[i];
  }
  return ref > 0 ? Math.max(0, err) / ref : 0;
}
