/**
 * linalg/svd.ts's truncated SVD for a matrix on the device (backend/solvers.ts): the same
 * randomized subspace iteration (Halko, Martinsson & Tropp 2011, Algorithms 4.4 and 5.1), seed
 * and oversampling, with the products of the tall matrices on the device and only l x l matrices
 * (l = k + oversampling) on the host: the Gram matrices of the orthonormalisations (Cholesky QR
 * twice, the factor taken in f64 on the host) and the Rayleigh-Ritz eigenproblem.
 */
import type { Tensor } from '../backend/backend.js';
import { matrixView as whole, type DeviceSolvers } from '../backend/solvers.js';
import { choleskyLower, invertLower } from '../linalg/cholesky.js';
import { symmetricEigen } from '../linalg/svd.js';

/** The top-k singular triplets on the device: U [rows, k] and V [cols, k] with orthonormal columns, s decreasing. */
export interface DeviceSvd {
  u: Tensor;
  s: Float64Array;
  v: Tensor;
  k: number;
}

/**
 * y [rows, l] -> Q with orthonormal columns spanning them: Q = Y L^-T for Y^T Y = L L^T, twice
 * (the second pass removes what f32 left). The Gram matrix is shifted by a small multiple of its
 * trace (more if needed) so that near-dependent columns still factor. Consumes y.
 */
export async function orthonormalizeOnDevice(s: DeviceSolvers, y: Tensor, rows: number, l: number): Promise<Tensor> {
  let q = y;
  for (let pass = 0; pass < 2; pass++) {
    const g = s.zeros([l, l]);
    s.gemm(whole(g), whole(q), whole(q), { m: l, n: l, k: rows, transA: true });
    const gram = Float64Array.from(await s.read(g));
    s.free(g);
    let trace = 0;
    for (let i = 0; i < l; i++) trace += gram[i * l + i];
    let factor: Float64Array | null = null;
    for (let shift = 1e-6; !factor && shift < 1; shift *= 10) {
      const f = gram.slice();
      for (let i = 0; i < l; i++) f[i * l + i] += (shift * trace) / l + (trace === 0 ? 1 : 0);
      if (choleskyLower(f, l) === 0) factor = f;
    }
    if (!factor) throw new Error('orthonormalizeOnDevice: the Gram matrix does not factor');
    invertLower(factor, l); // L^-1 (lower)
    const inv = s.upload(Float32Array.from(factor), [l, l]), out = s.zeros([rows, l]);
    s.gemm(whole(out), whole(q), whole(inv), { m: rows, n: l, k: l, transB: true }); // Y L^-T
    s.free(inv);
    s.free(q);
    q = out;
  }
  return q;
}

/** Top-k singular triplets of m [rows, cols] on the device, as linalg/svd.ts's truncatedSvd (which see). */
export async function truncatedSvdOnDevice(s: DeviceSolvers, m: Tensor, rows: number, cols: number, k: number, opts: { oversample?: number; powerIterations?: number; seed?: number } = {}): Promise<DeviceSvd> {
  const l = Math.min(rows, cols, k + (opts.oversample ?? 10));
  let seed = (opts.seed ?? 1) >>> 0 || 1;
  const rand = () => {
    seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
    return seed / 4294967296 - 0.5;
  };
  const omega = s.upload(Float32Array.from({ length: cols * l }, rand), [cols, l]);
  const times = (out: Tensor, transA: boolean, x: Tensor, n: number, inner: number) =>
    s.gemm(whole(out), whole(m), whole(x), { m: n, n: l, k: inner, transA });
  let y = s.zeros([rows, l]);
  times(y, false, omega, rows, cols); // M Omega
  s.free(omega);
  y = await orthonormalizeOnDevice(s, y, rows, l);
  const iterations = l === Math.min(rows, cols) ? 0 : (opts.powerIterations ?? 6);
  for (let it = 0; it < iterations; it++) {
    let z = s.zeros([cols, l]);
    times(z, true, y, cols, rows); // M^T Y
    z = await orthonormalizeOnDevice(s, z, cols, l);
    s.free(y);
    y = s.zeros([rows, l]);
    times(y, false, z, rows, cols); // M Z
    s.free(z);
    y = await orthonormalizeOnDevice(s, y, rows, l);
  }
  // B = Y^T M [l, cols]; B B^T = W diag(s^2) W^T; U = Y W, V = B^T W / s.
  const b = s.zeros([l, cols]), bbt = s.zeros([l, l]);
  s.gemm(whole(b), whole(y), whole(m), { m: l, n: cols, k: rows, transA: true });
  s.gemm(whole(bbt), whole(b), whole(b), { m: l, n: l, k: cols, transB: true });
  const { values, vectors } = symmetricEigen(Float64Array.from(await s.read(bbt)), l);
  s.free(bbt);
  const kk = Math.min(k, l);
  const top = new Float32Array(l * kk);
  for (let i = 0; i < l; i++) for (let j = 0; j < kk; j++) top[i * kk + j] = vectors[i * l + j];
  const w = s.upload(top, [l, kk]), u = s.zeros([rows, kk]), v = s.zeros([cols, kk]);
  s.gemm(whole(u), whole(y), whole(w), { m: rows, n: kk, k: l });
  s.gemm(whole(v), whole(b), whole(w), { m: cols, n: kk, k: l, transA: true });
  [w, y, b].forEach((t) => s.free(t));
  const sv = Float64Array.from({ length: kk }, (_, j) => Math.sqrt(Math.max(0, values[j])));
  s.scaleColumns(v, Float32Array.from(sv, (x) => (x > 0 ? 1 / x : 0)));
  return { u, s: sv, v, k: kk };
}
