/**
 * C = op(A) op(B) (+ bias per column), f32, for all the backend's products: matmul, linear
 * (x W^T + b: B transposed) and gram (X^T X: A transposed).
 *
 * Classic shared-memory tiling: a workgroup of 16x16 threads computes a 64x64 tile of C, each
 * thread a 4x4 sub-tile (rows ty + 16 i, columns tx + 16 j, strided so neighbouring threads read
 * neighbouring words of the tiles). The K dimension advances 16 at a time through workgroup
 * memory; each step loads 64x16 of op(A) and 16x64 of op(B), 4 elements per thread, in the order
 * that reads consecutive addresses of the stored (possibly transposed) matrix. Edges load zeros.
 * Products accumulate with fma in f32.
 */
import type { Kernel } from './kernel.js';

export const TILE = 64;

export const MATMUL: Kernel = {
  name: 'matmul',
  buffers: [{ name: 'A' }, { name: 'B' }, { name: 'bias' }, { name: 'C', write: true }],
  params: { m: 'u32', n: 'u32', k: 'u32', lda: 'u32', ldb: 'u32', transA: 'u32', transB: 'u32', hasBias: 'u32' },
  body: /* wgsl */ `
var<workgroup> As: array<array<f32, 64>, 16>; // As[kk][r] = op(A)[row0 + r, k0 + kk]
var<workgroup> Bs: array<array<f32, 64>, 16>; // Bs[kk][c] = op(B)[k0 + kk, col0 + c]

fn loadA(r: u32, kk: u32) -> f32 {
  if (r >= p.m || kk >= p.k) { return 0.0; }
  if (p.transA == 1u) { return A[kk * p.lda + r]; }
  return A[r * p.lda + kk];
}

fn loadB(kk: u32, c: u32) -> f32 {
  if (c >= p.n || kk >= p.k) { return 0.0; }
  if (p.transB == 1u) { return B[c * p.ldb + kk]; }
  return B[kk * p.ldb + c];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let tid = lid.y * 16u + lid.x;
  // acc[i] holds C[row0 + ty + 16 i, col0 + tx + 16 j] for j = 0..3 (vectors: no dynamic indexing).
  var acc = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var k0 = 0u; k0 < p.k; k0 += 16u) {
    for (var e = 0u; e < 4u; e++) {
      let idx = tid + e * 256u;
      // A stored row-major reads along k; transposed, along the rows.
      if (p.transA == 1u) { As[idx / 64u][idx % 64u] = loadA(row0 + idx % 64u, k0 + idx / 64u); }
      else { As[idx % 16u][idx / 16u] = loadA(row0 + idx / 16u, k0 + idx % 16u); }
      if (p.transB == 1u) { Bs[idx % 16u][idx / 16u] = loadB(k0 + idx % 16u, col0 + idx / 16u); }
      else { Bs[idx / 64u][idx % 64u] = loadB(k0 + idx / 64u, col0 + idx % 64u); }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let b = vec4f(Bs[kk][lid.x], Bs[kk][lid.x + 16u], Bs[kk][lid.x + 32u], Bs[kk][lid.x + 48u]);
      acc[0] = fma(vec4f(As[kk][lid.y]), b, acc[0]);
      acc[1] = fma(vec4f(As[kk][lid.y + 16u]), b, acc[1]);
      acc[2] = fma(vec4f(As[kk][lid.y + 32u]), b, acc[2]);
      acc[3] = fma(vec4f(As[kk][lid.y + 48u]), b, acc[3]);
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y + 16u * i;
    if (r >= p.m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid.x + 16u * j;
      if (c >= p.n) { continue; }
      var v = acc[i][j];
      if (p.hasBias == 1u) { v += bias[c]; }
      C[r * p.n + c] = v;
    }
  }
}`,
};
