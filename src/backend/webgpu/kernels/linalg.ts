/**
 * The dense linear algebra of the solvers (backend/solvers.ts) that is not a product: the steps of
 * a blocked Cholesky factorization and triangular inverse, whose products run on the general GEMM
 * kernels (matmul.ts), and the small copies between them.
 *
 * The blocked Cholesky works on diagonal blocks of NB = 32: CHOL_DIAG factors one block A11 = L11
 * L11^T in workgroup memory (one thread a row, right-looking, column by column) and also writes
 * L11^-1 (forward substitution, one thread a column), which turns the panel's triangular solve
 * L21 = A21 L11^-T into a product.
 */
import type { Kernel } from './kernel.js';

/**
 * The entry point of a kernel with one thread per element: `idx` runs over 0..count-1 (256 a
 * workgroup, laid out by kernel.ts's grid) and `body` handles element idx.
 */
function perElement(count: string, body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let idx = groupIndex(wg, nwg) * 256u + lid.x;
  if (idx >= ${count}) { return; }
  ${body}
}`;
}

/** Rows and columns of a diagonal block. */
export const NB = 32;

/** out[i, j] = in[n-1-i, n-1-j] (+ add[n-1-i] on the diagonal when hasAdd): J H J + diag(J a), J the reversal. */
export const REVERSE_ADD: Kernel = {
  name: 'reverse-add',
  buffers: [{ name: 'src' }, { name: 'add' }, { name: 'dst', write: true }],
  params: { n: 'u32', hasAdd: 'u32' },
  body: perElement('p.n * p.n', /* wgsl */ `
  let i = idx / p.n;
  let j = idx % p.n;
  var v = src[(p.n - 1u - i) * p.n + (p.n - 1u - j)];
  if (i == j && p.hasAdd == 1u) { v += add[p.n - 1u - i]; }
  dst[idx] = v;`),
};

/**
 * Factors the diagonal block A[k0:k0+nb, k0:k0+nb] (lower triangle) in place into L11, writes L11^-1
 * into the same block of X (zeros above its diagonal), and sets status[0] = 1 when a pivot is not
 * positive (the matrix is not numerically positive definite). One workgroup of NB threads.
 */
export const CHOL_DIAG: Kernel = {
  name: 'chol-diag',
  buffers: [{ name: 'A', write: true }, { name: 'X', write: true }, { name: 'status', type: 'u32', write: true }],
  params: { n: 'u32', k0: 'u32', nb: 'u32' },
  body: /* wgsl */ `
var<workgroup> a: array<array<f32, ${NB + 1}>, ${NB}>;
var<workgroup> inv: array<array<f32, ${NB + 1}>, ${NB}>;

@compute @workgroup_size(${NB})
fn main(@builtin(local_invocation_id) lid: vec3u) {
  let i = lid.x;
  let base = p.k0 * p.n + p.k0;
  for (var j = 0u; j < ${NB}u; j++) {
    a[i][j] = select(0.0, A[base + i * p.n + j], i < p.nb && j <= i);
  }
  workgroupBarrier();
  // Right-looking: column j is final once the columns before it have been subtracted.
  for (var j = 0u; j < p.nb; j++) {
    let d = a[j][j];
    workgroupBarrier();
    if (i == 0u && !(d > 0.0)) { status[0] = 1u; }
    let l = sqrt(max(d, 1e-30));
    if (i == j) { a[j][j] = l; }
    if (i > j && i < p.nb) { a[i][j] = a[i][j] / l; }
    workgroupBarrier();
    if (i > j && i < p.nb) {
      let lij = a[i][j];
      for (var k = j + 1u; k <= i; k++) { a[i][k] -= lij * a[k][j]; }
    }
    workgroupBarrier();
  }
  // Column i of L11^-1: L x = e_i by forward substitution (rows below i only).
  if (i < p.nb) {
    for (var r = 0u; r < ${NB}u; r++) { inv[r][i] = 0.0; }
    inv[i][i] = 1.0 / a[i][i];
    for (var r = i + 1u; r < p.nb; r++) {
      var s = 0.0;
      for (var k = i; k < r; k++) { s += a[r][k] * inv[k][i]; }
      inv[r][i] = -s / a[r][r];
    }
  }
  workgroupBarrier();
  if (i < p.nb) {
    for (var j = 0u; j < p.nb; j++) {
      if (j <= i) { A[base + i * p.n + j] = a[i][j]; }
      X[base + i * p.n + j] = inv[i][j];
    }
  }
}`,
};

/** dst[offDst + r ldDst + c] = src[offSrc + r ldSrc + c] for r < m, c < n (a view copied into another matrix). */
export const COPY_VIEW: Kernel = {
  name: 'copy-view',
  buffers: [{ name: 'src' }, { name: 'dst', write: true }],
  params: { m: 'u32', n: 'u32', offSrc: 'u32', ldSrc: 'u32', offDst: 'u32', ldDst: 'u32' },
  body: perElement('p.m * p.n', /* wgsl */ `
  let r = idx / p.n;
  let c = idx % p.n;
  dst[p.offDst + r * p.ldDst + c] = src[p.offSrc + r * p.ldSrc + c];`),
};

/** out[i] = H[i, i]. */
export const DIAGONAL: Kernel = {
  name: 'diagonal',
  buffers: [{ name: 'h' }, { name: 'out', write: true }],
  params: { n: 'u32' },
  body: perElement('p.n', 'out[idx] = h[idx * p.n + idx];'),
};

/** w[r, c] *= s[c], in place. */
export const SCALE_COLUMNS: Kernel = {
  name: 'scale-columns',
  buffers: [{ name: 's' }, { name: 'w', write: true }],
  params: { rows: 'u32', cols: 'u32' },
  body: perElement('p.rows * p.cols', 'w[idx] *= s[idx % p.cols];'),
};

/** y += alpha x over n elements, in place. */
export const ADD_SCALED: Kernel = {
  name: 'add-scaled',
  buffers: [{ name: 'x' }, { name: 'y', write: true }],
  params: { n: 'u32', alpha: 'f32' },
  body: perElement('p.n', 'y[idx] += p.alpha * x[idx];'),
};

/** h[i, j] = h[j, i] for i > j, in place (a symmetric product computed on its upper tiles only). */
export const SYMMETRIZE: Kernel = {
  name: 'symmetrize',
  buffers: [{ name: 'h', write: true }],
  params: { n: 'u32' },
  body: perElement('p.n * p.n', /* wgsl */ `
  let i = idx / p.n;
  let j = idx % p.n;
  if (i > j) { h[idx] = h[j * p.n + i]; }`),
};

/**
 * out[i, j] = in[rows[i], cols[j]] for in and out [m, n]: a gather of rows and columns (the identity
 * where a flag is 0), e.g. GPTQ's act-order permutation of W's columns and of H.
 */
export const PERMUTE: Kernel = {
  name: 'permute',
  buffers: [{ name: 'src' }, { name: 'rowIdx', type: 'u32' }, { name: 'colIdx', type: 'u32' }, { name: 'dst', write: true }],
  params: { m: 'u32', n: 'u32', permuteRows: 'u32', permuteCols: 'u32' },
  body: perElement('p.m * p.n', /* wgsl */ `
  var i = idx / p.n;
  var j = idx % p.n;
  if (p.permuteRows == 1u) { i = rowIdx[i]; }
  if (p.permuteCols == 1u) { j = colIdx[j]; }
  dst[idx] = src[i * p.n + j];`),
};

/** Workgroups (of 256 threads) of DIFFERENCE_DOT's first pass, each writing one partial sum. */
export const DOT_PARTIALS = 256;

/**
 * sum_i (a_i - b_i)(c_i - d_i) over n elements (b or d left out where hasB / hasD is 0), in two
 * passes: DOT_PARTIALS workgroups each sum a strided share into partial[wg] (a tree in workgroup
 * memory), then DOT_FINISH adds the partials into out[slot]. QuantEase's objective is this with
 * a = W, b = W_hat, c = W S, d = W_hat S: tr((W - W_hat) S (W - W_hat)^T) without cancellation.
 */
export const DIFFERENCE_DOT: Kernel = {
  name: 'difference-dot',
  buffers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }, { name: 'partial', write: true }],
  params: { n: 'u32', hasB: 'u32', hasD: 'u32' },
  body: /* wgsl */ `
var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var acc = 0.0;
  for (var i = wg.x * 256u + lid.x; i < p.n; i += ${DOT_PARTIALS * 256}u) {
    var x = a[i];
    var y = c[i];
    if (p.hasB == 1u) { x -= b[i]; }
    if (p.hasD == 1u) { y -= d[i]; }
    acc = fma(x, y, acc);
  }
  sums[lid.x] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid.x < s) { sums[lid.x] += sums[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { partial[wg.x] = sums[0]; }
}`,
};

/** out[slot] = the sum of DIFFERENCE_DOT's partials (one workgroup). */
export const DOT_FINISH: Kernel = {
  name: 'dot-finish',
  buffers: [{ name: 'partial' }, { name: 'out', write: true }],
  params: { slot: 'u32' },
  body: /* wgsl */ `
var<workgroup> sums: array<f32, ${DOT_PARTIALS}>;

@compute @workgroup_size(${DOT_PARTIALS})
fn main(@builtin(local_invocation_id) lid: vec3u) {
  sums[lid.x] = partial[lid.x];
  workgroupBarrier();
  for (var s = ${DOT_PARTIALS / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { sums[lid.x] += sums[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { out[p.slot] = sums[0]; }
}`,
};
