/**
 * Host GEMM in f32 and f64: C = alpha * op(A) * op(B) + beta * C on row-major views.
 * Runs the native BLIS-style kernel when the addon is built, else a plain TypeScript loop
 * (correct, ~50x slower; it is also the reference the native kernel is tested against).
 */
import { native } from '../native/index.js';

/** A row-major view into a typed array: element (i, j) is data[offset + i * ld + j]. */
export interface View<A extends Float32Array | Float64Array> {
  data: A;
  offset?: number;
  /** Leading dimension (row stride); defaults to the view's column count. */
  ld?: number;
}

export interface GemmShape {
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Columns of op(A) = rows of op(B). */
  k: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

type Arr = Float32Array | Float64Array;

function gemmTs<A extends Arr>(s: GemmShape, a: View<A>, b: View<A>, c: View<A>): void {
  const { m, n, k } = s;
  const tA = s.transA ?? false, tB = s.transB ?? false;
  const alpha = s.alpha ?? 1, beta = s.beta ?? 0;
  const A = a.data, B = b.data, C = c.data;
  const oa = a.offset ?? 0, ob = b.offset ?? 0, oc = c.offset ?? 0;
  const lda = a.ld ?? (tA ? m : k), ldb = b.ld ?? (tB ? k : n), ldc = c.ld ?? n;
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const aip = tA ? A[oa + p * lda + i] : A[oa + i * lda + p];
      if (aip === 0) continue;
      if (tB) for (let j = 0; j < n; j++) row[j] += aip * B[ob + j * ldb + p];
      else {
        const base = ob + p * ldb;
        for (let j = 0; j < n; j++) row[j] += aip * B[base + j];
      }
    }
    const base = oc + i * ldc;
    for (let j = 0; j < n; j++) C[base + j] = beta === 0 ? alpha * row[j] : alpha * row[j] + beta * C[base + j];
  }
}

function gemmAny<A extends Arr>(s: GemmShape, a: View<A>, b: View<A>, c: View<A>): void {
  const tA = s.transA ?? false, tB = s.transB ?? false;
  const lda = a.ld ?? (tA ? s.m : s.k), ldb = b.ld ?? (tB ? s.k : s.n), ldc = c.ld ?? s.n;
  if (native) {
    const f = a.data instanceof Float32Array ? native.sgemm : native.dgemm;
    (f as (...args: unknown[]) => void)(tA, tB, s.m, s.n, s.k, s.alpha ?? 1, a.data, a.offset ?? 0, lda,
      b.data, b.offset ?? 0, ldb, s.beta ?? 0, c.data, c.offset ?? 0, ldc);
  } else {
    gemmTs(s, { ...a, ld: lda }, { ...b, ld: ldb }, { ...c, ld: ldc });
  }
}

/** f32 GEMM (see module doc). */
export function sgemm(s: GemmShape, a: View<Float32Array>, b: View<Float32Array>, c: View<Float32Array>): void {
  gemmAny(s, a, b, c);
}

/** f64 GEMM (see module doc). */
export function dgemm(s: GemmShape, a: View<Float64Array>, b: View<Float64Array>, c: View<Float64Array>): void {
  gemmAny(s, a, b, c);
}

/** The plain TypeScript GEMM, exported for tests and the kernel benchmark. */
export const gemmReference = gemmTs;
