/**
 * Hessian helpers for layer-wise quantization, where a layer's loss is
 *   f(W_hat) = ||W X - W_hat X||_F^2 = tr((W - W_hat) H (W - W_hat)^T),  H = X X^T  (cols x cols).
 */
import { choleskyLower, invertLower } from './cholesky.js';

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
