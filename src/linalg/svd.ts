/**
 * Symmetric eigendecomposition (cyclic Jacobi, f64) for small matrices, and a truncated SVD of
 * large ones by randomized subspace iteration (Halko, Martinsson & Tropp 2011, Algorithms 4.4 and
 * 5.1) with a Rayleigh-Ritz step on the small projected matrix. The heavy products go through
 * dgemm. When k + oversampling reaches min(rows, cols) the subspace is the whole space and the
 * result is exact.
 */
import { dgemm } from './gemm.js';
import { choleskyLower } from './cholesky.js';

export interface Eigen {
  /** Eigenvalues, decreasing. */
  values: Float64Array;
  /** Eigenvectors as columns of an n x n row-major matrix, in the order of `values`. */
  vectors: Float64Array;
}

/** Cyclic Jacobi rotations until the off-diagonal mass is negligible. O(n^3) per sweep. */
export function symmetricEigen(a: Float64Array, n: number): Eigen {
  const m = a.slice();
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let norm = 0;
  for (let i = 0; i < n * n; i++) norm += m[i] * m[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i * n + j] ** 2;
    if (off <= 1e-30 * norm || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p], mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k], mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[y * n + y] - m[x * n + x]);
  const values = Float64Array.from(order, (i) => m[i * n + i]);
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) order.forEach((src, dst) => (vectors[r * n + dst] = v[r * n + src]));
  return { values, vectors };
}

/**
 * Orthonormal basis of the columns of y [rows, cols] (in place), by Cholesky QR twice
 * (numerically as good as Householder for full-rank y); falls back to Gram-Schmidt.
 */
export function orthonormalizeColumns(y: Float64Array, rows: number, cols: number): void {
  for (let pass = 0; pass < 2; pass++) {
    const g = new Float64Array(cols * cols);
    dgemm({ m: cols, n: cols, k: rows, transA: true }, { data: y }, { data: y }, { data: g });
    let trace = 0;
    for (let i = 0; i < cols; i++) trace += g[i * cols + i];
    for (let i = 0; i < cols; i++) g[i * cols + i] += 1e-14 * trace;
    if (choleskyLower(g, cols) !== 0) return gramSchmidt(y, rows, cols);
    // y <- y L^-T, row by row (forward substitution).
    for (let r = 0; r < rows; r++) {
      const row = y.subarray(r * cols, (r + 1) * cols);
      for (let j = 0; j < cols; j++) {
        let s = row[j];
        for (let k = 0; k < j; k++) s -= row[k] * g[j * cols + k];
        row[j] = s / g[j * cols + j];
      }
    }
  }
}

function gramSchmidt(y: Float64Array, rows: number, cols: number): void {
  for (let j = 0; j < cols; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let r = 0; r < rows; r++) dot += y[r * cols + j] * y[r * cols + k];
      for (let r = 0; r < rows; r++) y[r * cols + j] -= dot * y[r * cols + k];
    }
    let norm = 0;
    for (let r = 0; r < rows; r++) norm += y[r * cols + j] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < rows; r++) y[r * cols + j] /= norm;
  }
}

export interface TruncatedSvd {
  /** [rows, k], orthonormal columns. */
  u: Float64Array;
  /** k singular values, decreasing. */
  s: Float64Array;
  /** [cols, k], orthonormal columns. */
  v: Float64Array;
  k: number;
}

/** Top-k singular triplets of m [rows, cols] (see the module comment). */
export function truncatedSvd(m: Float64Array, rows: number, cols: number, k: number, opts: { oversample?: number; powerIterations?: number; seed?: number } = {}): TruncatedSvd {
  const l = Math.min(rows, cols, k + (opts.oversample ?? 10));
  // Range finder: Y = (M M^T)^q M Omega, re-orthonormalised at every step.
  let seed = (opts.seed ?? 1) >>> 0 || 1;
  const rand = () => {
    seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
    return seed / 4294967296 - 0.5;
  };
  const omega = Float64Array.from({ length: cols * l }, rand);
  const y = new Float64Array(rows * l), z = new Float64Array(cols * l);
  dgemm({ m: rows, n: l, k: cols }, { data: m }, { data: omega }, { data: y });
  orthonormalizeColumns(y, rows, l);
  const iterations = l === Math.min(rows, cols) ? 0 : (opts.powerIterations ?? 6);
  for (let it = 0; it < iterations; it++) {
    dgemm({ m: cols, n: l, k: rows, transA: true }, { data: m }, { data: y }, { data: z });
    orthonormalizeColumns(z, cols, l);
    dgemm({ m: rows, n: l, k: cols }, { data: m }, { data: z }, { data: y });
    orthonormalizeColumns(y, rows, l);
  }
  // B = Y^T M [l, cols]; B B^T = W diag(s^2) W^T; U = Y W, V = B^T W / s.
  const b = new Float64Array(l * cols);
  dgemm({ m: l, n: cols, k: rows, transA: true }, { data: y }, { data: m }, { data: b });
  const bbt = new Float64Array(l * l);
  dgemm({ m: l, n: l, k: cols, transB: true }, { data: b }, { data: b }, { data: bbt });
  const { values, vectors } = symmetricEigen(bbt, l);
  const kk = Math.min(k, l);
  const w = new Float64Array(l * kk);
  for (let i = 0; i < l; i++) for (let j = 0; j < kk; j++) w[i * kk + j] = vectors[i * l + j];
  const u = new Float64Array(rows * kk), v = new Float64Array(cols * kk);
  dgemm({ m: rows, n: kk, k: l }, { data: y }, { data: w }, { data: u });
  dgemm({ m: cols, n: kk, k: l, transA: true }, { data: b }, { data: w }, { data: v });
  const s = new Float64Array(kk);
  for (let j = 0; j < kk; j++) {
    s[j] = Math.sqrt(Math.max(0, values[j]));
    for (let i = 0; i < cols; i++) v[i * kk + j] = s[j] > 0 ? v[i * kk + j] / s[j] : 0;
  }
  return { u, s, v, k: kk };
}
