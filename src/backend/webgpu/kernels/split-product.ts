/**
 * f32 products on the int8 tensor cores, exact slice by slice (Ozaki, Ogita, Oishi, Rump 2012, and
 * Ootomo et al. 2024's int8 version): every row of an operand is scaled by a power of two s_r
 * (above its largest magnitude) and cut into int8 slices of 7 bits each,
 *     x = s_r (d_0 / 64 + d_1 / (64 * 128) + d_2 / (64 * 128^2) + ...),   d_i in [-64, 64],
 * exactly up to the last slice's rounding (2^-6, 2^-13, 2^-20 of s_r for 1, 2, 3 slices). Then
 *     (X W^T)_ij = s_i s_j sum_L 2^-(12 + 7 L) C_L,   C_L = sum_{a + b = L} X_a W_b^T   (in i32, exact),
 * and C_L is one int8 product over concatenated slices: X's slices are stored in order
 * [X_0 | X_1 | X_2] and W's reversed [W_2 | W_1 | W_0], so C_L = X[:, 0 : (L+1) k] W[:, (S-1-L) k : S k]^T.
 * Levels past Lmax are dropped: Lmax = 1 (3 slice products) is about bf16's precision, Lmax = 2
 * (6) about f32's (bench/int8.ts measures both against f64).
 *
 * SPLIT_ROWS cuts the rows of an f32 matrix into slices (int8 four to a u32 word, rows and k
 * zero-padded as INT8_MATMUL needs); ACCUMULATE_LEVEL adds each level into the f32 result.
 */
import type { Kernel } from './kernel.js';

/** Most slices an operand is cut into. */
export const MAX_SLICES = 3;

export const SPLIT_ROWS: Kernel = {
  name: 'split-rows',
  buffers: [{ name: 'X' }, { name: 'out', type: 'u32', write: true }, { name: 'scales', write: true }],
  params: { rows: 'u32', cols: 'u32', rowsPad: 'u32', kPad: 'u32', slices: 'u32', reversed: 'u32' },
  body: /* wgsl */ `
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = groupIndex(wg, nwg);
  if (r >= p.rowsPad) { return; } // the whole workgroup
  let live = r < p.rows;
  var m = 0.0;
  if (live) { for (var c = lid.x; c < p.cols; c += 256u) { m = max(m, abs(X[r * p.cols + c])); } }
  red[lid.x] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = max(red[lid.x], red[lid.x + s]); }
    workgroupBarrier();
  }
  // s_r = 2^(E + 1) for a largest magnitude f 2^E (1 <= f < 2): |x| / s_r < 1.
  let top = red[0];
  let scale = select(1.0, bitcast<f32>((((bitcast<u32>(top) >> 23u) & 0xffu) + 1u) << 23u), top > 0.0);
  if (lid.x == 0u) { scales[r] = scale; }
  let inv = 1.0 / scale;
  let words = p.kPad / 4u;
  for (var w = lid.x; w < words; w += 256u) {
    // Initialised explicitly: without it the H100 kept the last word's bits here across trips.
    var packed = array<u32, ${MAX_SLICES}>(${Array.from({ length: MAX_SLICES }, () => '0u').join(', ')});
    for (var e = 0u; e < 4u; e++) {
      let c = 4u * w + e;
      var a = 0.0;
      if (live && c < p.cols) { a = X[r * p.cols + c] * inv * 64.0; }
      // Each step is exact: a - round(a) needs no more bits than a has.
      for (var s = 0u; s < p.slices; s++) {
        let d = round(a);
        a = (a - d) * 128.0;
        packed[s] |= (u32(i32(d)) & 0xffu) << (8u * e);
      }
    }
    for (var s = 0u; s < p.slices; s++) {
      let slot = select(s, p.slices - 1u - s, p.reversed == 1u);
      out[r * p.slices * words + slot * words + w] = packed[s];
    }
  }
}`,
};

/**
 * out[i, j] (+)= s_i t_j 2^-(12 + 7 L) C[i, j] for i < m, j < n (C padded: [mPad, ldc]), one level L
 * at a time, the smallest first: `first` starts the sum (from the bias, or 0).
 */
export const ACCUMULATE_LEVEL: Kernel = {
  name: 'accumulate-level',
  buffers: [{ name: 'C', type: 'i32' }, { name: 'sx' }, { name: 'sw' }, { name: 'bias' }, { name: 'out', write: true }],
  params: { m: 'u32', n: 'u32', ldc: 'u32', level: 'u32', first: 'u32', hasBias: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let idx = groupIndex(wg, nwg) * 256u + lid.x;
  if (idx >= p.m * p.n) { return; }
  let i = idx / p.n;
  let j = idx % p.n;
  // s_i t_j 2^-(12 + 7 L) is a power of two: the scaling is exact.
  let y = f32(C[i * p.ldc + j]) * (sx[i] * sw[j] * exp2(-12.0 - 7.0 * f32(p.level)));
  var before = 0.0;
  if (p.first == 0u) { before = out[idx]; } else if (p.hasBias == 1u) { before = bias[j]; }
  out[idx] = before + y;
}`,
};
