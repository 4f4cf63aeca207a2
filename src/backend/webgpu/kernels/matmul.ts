/**
 * C = op(A) op(B) (+ bias per column), f32, for all the backend's products: matmul, linear
 * (x W^T + b: B transposed) and gram (X^T X: A transposed). One kernel per transpose combination,
 * generated below, so the loads have no run-time branches.
 *
 * Register-blocked shared-memory tiling: a workgroup of 16x16 threads computes a 128x128 tile of C,
 * each thread an 8x8 block of it: rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, columns likewise from
 * tx, so that a thread reads its operands from workgroup memory as two vec4 of op(A)'s column and
 * two of op(B)'s row (neighbouring threads, neighbouring vec4s), and makes 64 fused multiply-adds of
 * them. K advances 8 at a time: each step loads 128x8 of op(A) and 8x128 of op(B), 4 elements per
 * thread, in the order that reads consecutive addresses of the stored (possibly transposed)
 * matrix. Edges load zeros. Every output is the fma chain over k in increasing order, as before.
 */
import type { Kernel } from './kernel.js';

/** Rows and columns of C a workgroup computes. */
export const TILE = 128;

/** K per step. */
const TK = 8;
/**
 * vec4s per k row of the workgroup tiles: TILE / 4 and one of padding, which spreads the
 * shared-memory stores of operands read along k (8 consecutive k of a row) over the banks. A one-off
 * comparison on the H100 (2026-11-24), TFLOP/s at 4096^3 / 4096x4096 -> 11008 (x W^T) / a
 * 4096-token X^T X: unpadded 25.6 / 24.3 / 29.1, padded 29.5 / 28.3 / 28.8; 16 k a step (padded)
 * 20.0 / 27.6 / 28.2; 32 k a step (unpadded) 12.3 / 12.5 / 12.6.
 */
const STRIDE = TILE / 4 + 1;

/** The loads of one K step: element e of this thread (idx = tid + 256 e) into As[kk][r] / Bs[kk][c]. */
function loads(transA: boolean, transB: boolean, half?: 'bf16' | 'f16', general = false): string {
  const off = (o: string) => (general ? `p.${o} + ` : '');
  const bAt = (i: string) => (half ? `halfAt(${i})` : `B[${off('offB')}${i}]`);
  // Stored row-major, op(A) = A reads along k (8 consecutive words a row); transposed, along the rows.
  const a = transA
    ? `let r = idx % 128u; let kk = idx / 128u; let gr = row0 + r; let gk = k0 + kk;\n      As[kk * ${STRIDE}u + r / 4u][r % 4u] = select(0.0, A[${off('offA')}gk * p.lda + gr], gr < p.m && gk < p.k);`
    : `let r = idx / ${TK}u; let kk = idx % ${TK}u; let gr = row0 + r; let gk = k0 + kk;\n      As[kk * ${STRIDE}u + r / 4u][r % 4u] = select(0.0, A[${off('offA')}gr * p.lda + gk], gr < p.m && gk < p.k);`;
  const b = transB
    ? `let c = idx / ${TK}u; let kb = idx % ${TK}u; let gc = col0 + c; let gkb = k0 + kb;\n      Bs[kb * ${STRIDE}u + c / 4u][c % 4u] = select(0.0, ${bAt('gc * p.ldb + gkb')}, gc < p.n && gkb < p.k);`
    : `let c = idx % 128u; let kb = idx / 128u; let gc = col0 + c; let gkb = k0 + kb;\n      Bs[kb * ${STRIDE}u + c / 4u][c % 4u] = select(0.0, ${bAt('gkb * p.ldb + gc')}, gc < p.n && gkb < p.k);`;
  return `for (var e = 0u; e < ${(TK * TILE) / 256}u; e++) {
      let idx = tid + e * 256u;
      { ${a} }
      { ${b} }
    }`;
}

/** The 64 fmas of one k: acc_i_h += a[i] * b_h over the thread's 8 rows i and two column vec4s h. */
function products(): string {
  const lines = [`let a0 = As[kk * ${STRIDE}u + lid.y]; let a1 = As[kk * ${STRIDE}u + 16u + lid.y];`, `let b0 = Bs[kk * ${STRIDE}u + lid.x]; let b1 = Bs[kk * ${STRIDE}u + 16u + lid.x];`];
  for (let i = 0; i < 8; i++) {
    const a = `a${i >> 2}[${i & 3}]`;
    lines.push(`c${i}0 = fma(vec4f(${a}), b0, c${i}0); c${i}1 = fma(vec4f(${a}), b1, c${i}1);`);
  }
  return lines.join('\n        ');
}

/** Stores the thread's 8x8 block (with the bias), skipping what lies outside C. */
function stores(): string {
  const lines: string[] = [];
  for (let i = 0; i < 8; i++)
    for (let h = 0; h < 2; h++) lines.push(`store(row0 + ${i >= 4 ? 64 : 0}u + lid.y * 4u + ${i & 3}u, col0 + ${h * 64}u + lid.x * 4u, c${i}${h});`);
  return lines.join('\n  ');
}

/**
 * Element i of a 16-bit float weight stored two to a u32 word (element 2j in the low half of word j),
 * widened exactly: bf16 is the high half of an f32; f16 is rebuilt from its fields (subnormals
 * included, which WGSL's unpack2x16float may flush).
 */
export const HALF_AT: Record<'bf16' | 'f16', string> = {
  bf16: `
fn halfAt(i: u32) -> f32 {
  let word = B[i / 2u];
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u));
}`,
  f16: `
fn halfAt(i: u32) -> f32 {
  let h = (B[i / 2u] >> (16u * (i & 1u))) & 0xffffu;
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(sign | 0x3f800000u) * f32(m) * 5.9604644775390625e-8; } // m 2^-24
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u)); // finite weights only: no 31
}`,
};

/**
 * The general form, for the solvers' blocked algorithms (backend/solvers.ts): operands and result
 * are views (an element offset and a row stride into a larger matrix) and the result is
 * C = alpha op(A) op(B) + beta C (C is read only when beta is not 0).
 */
const GENERAL_STORE = `
fn store(r: u32, c: u32, v: vec4f) {
  if (r >= p.m) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (c + j < p.n) {
      let at = p.offC + r * p.ldc + c + j;
      var x = p.alpha * v[j];
      if (p.beta != 0.0) { x += p.beta * C[at]; }
      C[at] = x;
    }
  }
}`;

const DENSE_STORE = `
fn store(r: u32, c: u32, v: vec4f) {
  if (r >= p.m) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (c + j < p.n) {
      var x = v[j];
      if (p.hasBias == 1u) { x += bias[c + j]; }
      C[r * p.n + c + j] = x;
    }
  }
}`;

function matmulKernel(transA: boolean, transB: boolean, half?: 'bf16' | 'f16', general = false): Kernel {
  return {
    name: `${general ? 'gemm' : 'matmul'}-${transA ? 't' : 'n'}${transB ? 't' : 'n'}${half ? `-${half}` : ''}`,
    buffers: general
      ? [{ name: 'A' }, { name: 'B' }, { name: 'C', write: true }]
      : [{ name: 'A' }, { name: 'B', ...(half ? { type: 'u32' as const } : {}) }, { name: 'bias' }, { name: 'C', write: true }],
    params: general
      ? { m: 'u32', n: 'u32', k: 'u32', lda: 'u32', ldb: 'u32', ldc: 'u32', offA: 'u32', offB: 'u32', offC: 'u32', alpha: 'f32', beta: 'f32', upper: 'u32' }
      : { m: 'u32', n: 'u32', k: 'u32', lda: 'u32', ldb: 'u32', hasBias: 'u32' },
    body: /* wgsl */ `
// As[kk * STRIDE + r / 4][r % 4] = op(A)[row0 + r, k0 + kk]; Bs likewise with op(B)[k0 + kk, col0 + c].
var<workgroup> As: array<vec4f, ${TK * STRIDE}>;
var<workgroup> Bs: array<vec4f, ${TK * STRIDE}>;
${half ? HALF_AT[half] : ''}
${general ? GENERAL_STORE : DENSE_STORE}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = wg.y * ${TILE}u;
  let col0 = wg.x * ${TILE}u;
  let tid = lid.y * 16u + lid.x;${general ? `
  if (p.upper == 1u && row0 >= col0 + ${TILE}u) { return; } // a tile wholly below the diagonal (symmetric results)` : ''}
  ${Array.from({ length: 8 }, (_, i) => `var c${i}0 = vec4f(0.0); var c${i}1 = vec4f(0.0);`).join('\n  ')}
  for (var k0 = 0u; k0 < p.k; k0 += ${TK}u) {
    ${loads(transA, transB, half, general)}
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
        ${products()}
    }
    workgroupBarrier();
  }
  ${stores()}
}`,
  };
}

/** The kernels by [transA][transB]. */
export const MATMUL: Record<'n' | 't', Record<'n' | 't', Kernel>> = {
  n: { n: matmulKernel(false, false), t: matmulKernel(false, true) },
  t: { n: matmulKernel(true, false), t: matmulKernel(true, true) },
};

/** linear's kernels for a weight kept in 16-bit floats (Backend.uploadHalf), by format. */
export const MATMUL_HALF_WEIGHT: Record<'bf16' | 'f16', Kernel> = {
  bf16: matmulKernel(false, true, 'bf16'),
  f16: matmulKernel(false, true, 'f16'),
};

/** The general products on views, C = alpha op(A) op(B) + beta C, by [transA][transB]. */
export const GEMM: Record<'n' | 't', Record<'n' | 't', Kernel>> = {
  n: { n: matmulKernel(false, false, undefined, true), t: matmulKernel(false, true, undefined, true) },
  t: { n: matmulKernel(true, false, undefined, true), t: matmulKernel(true, true, undefined, true) },
};

