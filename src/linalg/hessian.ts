/**
 * Hessian helpers for layer-wise quantization, where a layer's loss is
 *   f(W_hat) = ||W X - W_hat X||_F^2 = tr((W - W_hat) H (W - W_hat)^T),  H = X X^T  (cols x cols).
 */
import { choleskyLower, invertLower } from './cholesky.js';
import { dgemm } from './gemm.js';

/**
 * The upper-triangular U with H^-1 = U^T U (GPTQ's `cholesky(cholesky_inverse(cholesky(H)), upper=True)`),
 * or null when H is not numerically positive definite.
 *
 * Computed with one Cholesky and one triangular inverse instead of three factorizations: with J
 * the reversal permutation, J H J = L L^T gives H^-1 = J L^-T L^-1 J = U^T U for U = J L^-1 J,
 * which is upper triangular with a positive diagonal, hence the Cholesky factor of H^-1.
 */
export function inverseCholeskyUpper(h: Float64Array, n: number): Float64Array | null {
  const r = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) r[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
  if (choleskyLower(r, n) !== 0) return null;
  invertLower(r, n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = r[(n - 1 - i) * n + (n - 1 - j)];
  return u;
}

/** tr(D H D^T) for D = A - B ([rows, cols], B optional = 0), accumulated in f64, in row chunks. */
export function quadraticForm(a: Float32Array, b: Float32Array | null, h: Float64Array, rows: number, cols: number): number {
  const chunk = Math.max(1, Math.min(rows, Math.floor(16_000_000 / cols)));
  const d = new Float64Array(chunk * cols), dh = new Float64Array(chunk * cols);
  let total = 0;
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const m = Math.min(chunk, rows - r0);
    for (let i = 0; i < m * cols; i++) d[i] = a[r0 * cols + i] - (b ? b[r0 * cols + i] : 0);
    dgemm({ m, n: cols, k: cols }, { data: d }, { data: h }, { data: dh });
    for (let i = 0; i < m * cols; i++) total += d[i] * dh[i];
  }
  return total;
}

/** f(W_hat) / f(0) = tr(dW H dW^T) / tr(W H W^T): the layer's relative output error on the calibration data. */
export function relativeLayerError(w: Float32Array, wHat: Float32Array, h: Float64Array, rows: number, cols: number): number {
  const den = quadraticForm(w, null, h, rows, cols);
  return den > 0 ? quadraticForm(w, wHat, h, rows, cols) / den : 0;
}
