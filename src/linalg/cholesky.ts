/**
 * Cholesky factorization and triangular inverse in f64, for the quantizers' Hessians
 * (GPTQ's H^-1 factor, LRC's whitening). Native blocked kernels (LAPACK dpotrf/dtrtri style)
 * when built; unblocked TypeScript otherwise.
 */
import { native } from '../native/index.js';

/**
 * Overwrites the n x n symmetric positive-definite `a` (lower triangle read) with its lower
 * Cholesky factor L (a = L L^T), zeroing the strict upper triangle. Returns 0 on success, or
 * j + 1 when column j has a non-positive pivot (the matrix is not numerically positive definite;
 * `a` is then partially overwritten).
 */
export function choleskyLower(a: Float64Array, n: number): number {
  if (native) return native.choleskyLower(a, n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0) || !Number.isFinite(d)) return j + 1;
    const ljj = Math.sqrt(d);
    a[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / ljj;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = 0;
  return 0;
}

/** Overwrites the lower-triangular `l` (strict upper triangle zero) with its inverse. */
export function invertLower(l: Float64Array, n: number): void {
  if (native) return native.invertLower(l, n);
  // Row i of X = L^-1 solves sum_k L[i][k] X[k][j] = delta_ij, rows in increasing order.
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const lii = l[i * n + i];
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * n + k] * x[k * n + j];
      x[i * n + j] = -s / lii;
    }
    x[i * n + i] = 1 / lii;
  }
  l.set(x);
}
