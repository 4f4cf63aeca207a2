/**
 * Randomized Hadamard rotations (QuaRot, arXiv 2404.00456): Q = diag(d) H / sqrt(n) with H a
 * Hadamard matrix (entries +-1, H H^T = n I) and d random signs. Q is orthogonal, so rotating a
 * model's residual stream by it is exact, and it spreads activation outliers over all channels.
 *
 * Sizes: n = 2^m uses Sylvester's construction; n = 2^m (q + 1) with q a prime = 3 (mod 4) uses
 * H_(2^m) (x) Paley(q) (Paley's construction I), e.g. 704 = 16 x 44 (q = 43), 11008 has no such
 * factor. For other sizes the documented fallback is block-diagonal: I_c (x) H_(2^t) with 2^t the
 * largest power of two dividing n (still orthogonal and exact; it mixes within blocks only).
 *
 * Applied to a row vector x as x Q without ever forming Q: with X = reshape(d * x, [a, b]) and
 * Q = diag(d) (A (x) B) / sqrt(n), x Q = vec(A^T X B) / sqrt(n) (row-major vec); A = Sylvester
 * (symmetric, applied by the fast Walsh-Hadamard transform) or the identity, B = the small dense
 * factor (Paley, or Sylvester in the fallback), as one GEMM over all rows. Cost O(n (log a + b)) per row.
 */
import { sgemm } from './gemm.js';

export interface Rotation {
  size: number;
  /** Random signs d (+1/-1), length size. */
  signs: Float32Array;
  /** Size of the Sylvester factor A (applied by FWHT), or of the identity in the block-diagonal fallback. */
  outer: number;
  outerIsIdentity: boolean;
  /** The dense factor B (inner x inner, +-1 entries), row-major. */
  inner: number;
  innerMatrix: Float32Array;
  /** sqrt of the Hadamard order actually used (n, or the block size in the fallback). */
  norm: number;
  /** How the matrix was built, for reports. */
  construction: string;
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

function isPrime(q: number): boolean {
  if (q < 2) return false;
  for (let f = 2; f * f <= q; f++) if (q % f === 0) return false;
  return true;
}

/** Sylvester Hadamard matrix of order n = 2^m (symmetric). */
export function sylvester(n: number): Float32Array {
  const h = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] = popcount(i & j) % 2 === 0 ? 1 : -1;
  return h;
}

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/**
 * Paley construction I: for a prime q = 3 (mod 4), H = I + S of order q + 1 with
 * S = [[0, 1^T], [-1, J]], J_ij = chi(j - i) the quadratic character mod q (S is skew-symmetric).
 */
export function paley(q: number): Float32Array {
  if (!isPrime(q) || q % 4 !== 3) throw new Error(`Paley construction I needs a prime q = 3 mod 4, got ${q}`);
  const squares = new Set<number>();
  for (let x = 1; x < q; x++) squares.add((x * x) % q);
  const chi = (a: number) => {
    const r = ((a % q) + q) % q;
    return r === 0 ? 0 : squares.has(r) ? 1 : -1;
  };
  const n = q + 1, h = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s: number;
      if (i === 0) s = j === 0 ? 0 : 1;
      else if (j === 0) s = -1;
      else s = chi(j - i);
      h[i * n + j] = s + (i === j ? 1 : 0);
    }
  }
  return h;
}

/** Deterministic random signs from a seed (xorshift32). */
export function randomSigns(n: number, seed: number): Float32Array {
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 1 ? 1 : -1;
  }
  return out;
}

/** The randomized Hadamard rotation of size n with signs from `seed` (see the module comment). */
export function hadamardRotation(n: number, seed: number): Rotation {
  const signs = randomSigns(n, seed);
  if (isPow2(n)) return { size: n, signs, outer: n, outerIsIdentity: false, inner: 1, innerMatrix: new Float32Array([1]), norm: Math.sqrt(n), construction: `Sylvester ${n}` };
  // n = 2^m (q + 1), q prime = 3 mod 4: try the largest power of two first (smallest dense factor).
  for (let a = largestPow2Divisor(n); a >= 1; a /= 2) {
    const b = n / a;
    if (isPrime(b - 1) && (b - 1) % 4 === 3)
      return { size: n, signs, outer: a, outerIsIdentity: false, inner: b, innerMatrix: paley(b - 1), norm: Math.sqrt(n), construction: `Sylvester ${a} x Paley ${b}` };
  }
  const t = largestPow2Divisor(n);
  return { size: n, signs, outer: n / t, outerIsIdentity: true, inner: t, innerMatrix: sylvester(t), norm: Math.sqrt(t), construction: `block-diagonal ${n / t} x Sylvester ${t} (fallback: no Hadamard construction for ${n})` };
}

function largestPow2Divisor(n: number): number {
  return n & -n;
}

/** In place: each of the `rows` rows of x (length r.size) becomes x Q. */
export function rotateRows(x: Float32Array, rows: number, r: Rotation): void {
  const n = r.size, a = r.outer, b = r.inner;
  const scale = 1 / r.norm;
  for (let row = 0; row < rows; row++) for (let i = 0; i < n; i++) x[row * n + i] *= r.signs[i];
  // X B for every row at once: the rows' length-b chunks form a [rows * a, b] matrix.
  if (b > 1) {
    const xb = new Float32Array(rows * n);
    sgemm({ m: rows * a, n: b, k: b }, { data: x }, { data: r.innerMatrix }, { data: xb });
    x.set(xb);
  }
  // A^T (X B): fast Walsh-Hadamard transform down the a chunks of each row (A symmetric).
  if (!r.outerIsIdentity) {
    for (let row = 0; row < rows; row++) {
      const v = x.subarray(row * n, (row + 1) * n);
      for (let h = 1; h < a; h *= 2) {
        for (let i = 0; i < a; i += 2 * h) {
          for (let k = i; k < i + h; k++) {
            const p = k * b, q = (k + h) * b;
            for (let j = 0; j < b; j++) {
              const u = v[p + j], w = v[q + j];
              v[p + j] = u + w;
              v[q + j] = u - w;
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < rows * n; i++) x[i] *= scale;
}

/** In place: each row of x becomes x Q^T (the inverse rotation). */
export function rotateRowsTransposed(x: Float32Array, rows: number, r: Rotation): void {
  // x Q^T = ((Q x^T))^T: with Q = D M / norm, x Q^T = x M^T D / norm, M = A (x) B, M^T = A (x) B^T.
  const t: Rotation = { ...r, signs: new Float32Array(r.size).fill(1), innerMatrix: transposeSquare(r.innerMatrix, r.inner) };
  rotateRows(x, rows, t);
  for (let row = 0; row < rows; row++) for (let i = 0; i < r.size; i++) x[row * r.size + i] *= r.signs[i];
}

function transposeSquare(m: Float32Array, n: number): Float32Array {
  const t = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = m[i * n + j];
  return t;
}
