/**
 * Integer products for activation-quantized linears (W4A4, W4A8, W8A8; QuaRot's and LRC's
 * deployments). With the activation quantized per token and the weight per output channel,
 *     x~[t, k] = s_t (q_t,k - z_t),   w^[o, k] = s_o (q_o,k - z_o),
 * the codes enter the int8 product offset to signed bytes, a = q_t,k - c_x and b = q_o,k - c_w
 * (c = 2^(bits-1) for asymmetric grids, 0 for symmetric activations), so with alpha_t = c_x - z_t
 * and beta_o = c_w - z_o
 *     x~ w^^T [t, o] = s_t s_o sum_k (a + alpha_t)(b + beta_o)
 *                    = s_t s_o (C[t, o] + beta_o A_t + alpha_t B_o + K alpha_t beta_o),
 * C = a b^T (exact in i32: INT8_MATMUL on the tensor cores, or INTEGER_MATMUL), A_t and B_o the
 * rows' code sums. The bracket is an exact integer; only the final scaling rounds.
 *
 * ACT_QUANT_CODES quantizes rows as ACT_QUANT (rows.ts) does (the same scale, zero point and
 * rounding, so the same codes) but keeps the codes; INTEGER_FINISH forms the result.
 */
import type { Kernel } from './kernel.js';
import { ACT_GRID } from './rows.js';

/**
 * Per row r < rowsPad (one workgroup of 256): codes a as int8, four to a u32 word ([rowsPad, kPad/4],
 * zero past the row's d values and in rows past `rows`), and info[r] = (s_r, alpha_r, A_r).
 */
export const ACT_QUANT_CODES: Kernel = {
  name: 'act_quant_codes',
  buffers: [{ name: 'x' }, { name: 'codes', type: 'u32', write: true }, { name: 'info', write: true }],
  params: { rows: 'u32', d: 'u32', rowsPad: 'u32', kPad: 'u32', qmin: 'f32', qmax: 'f32', clip: 'f32', symmetric: 'u32', offset: 'f32' },
  body: /* wgsl */ `${ACT_GRID}
var<workgroup> lows: array<f32, 256>;
var<workgroup> highs: array<f32, 256>;
var<workgroup> sums: array<i32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = groupIndex(wg, nwg);
  if (row >= p.rowsPad) { return; } // the whole workgroup
  let live = row < p.rows;
  let o = row * p.d;
  var lo = 0.0;
  var hi = 0.0;
  if (live) { for (var j = t; j < p.d; j += 256u) { lo = min(lo, x[o + j]); hi = max(hi, x[o + j]); } }
  lows[t] = lo;
  highs[t] = hi;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { lows[t] = min(lows[t], lows[t + s]); highs[t] = max(highs[t], highs[t + s]); }
    workgroupBarrier();
  }
  // As ACT_QUANT: the range [min(x, 0), max(x, 0)] scaled by clip.
  let grid = actGrid(lows[0], highs[0]);
  let scale = grid.x;
  let zero = grid.y;
  let quantized = live && scale > 0.0; // else (an all-zero row, a padding row) codes 0 and s = 0
  let words = p.kPad / 4u;
  var sum = 0;
  for (var w = t; w < words; w += 256u) {
    var packed = 0u;
    for (var e = 0u; e < 4u; e++) {
      let j = 4u * w + e;
      if (quantized && j < p.d) {
        let a = i32(clamp(round(x[o + j] / scale) + zero, p.qmin, p.qmax) - p.offset);
        sum += a;
        packed |= (u32(a) & 0xffu) << (8u * e);
      }
    }
    codes[row * words + w] = packed;
  }
  sums[t] = sum;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { sums[t] += sums[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u && live) {
    info[3u * row] = select(0.0, scale, quantized);
    info[3u * row + 1u] = select(0.0, p.offset - zero, quantized);
    info[3u * row + 2u] = f32(sums[0]);
  }
}`,
};

/**
 * C[i, j] = sum_k a[i, k] b[j, k] in i32 for i < m, j < n: int8 rows four to a u32 word
 * ([.., words] each), 16 x 16 results a workgroup through workgroup memory. For devices without
 * int8 subgroup matrices (and SwiftShader in CI); the tensor cores run INT8_MATMUL.
 */
export const INTEGER_MATMUL: Kernel = {
  name: 'integer_matmul',
  buffers: [{ name: 'A', type: 'u32' }, { name: 'B', type: 'u32' }, { name: 'C', type: 'i32', write: true }],
  params: { m: 'u32', n: 'u32', words: 'u32', ldc: 'u32' },
  body: /* wgsl */ `
var<workgroup> As: array<u32, 256>;
var<workgroup> Bs: array<u32, 256>;

/** The dot product of four signed bytes with four. */
fn dot4(a: u32, b: u32) -> i32 {
  var s = 0;
  for (var e = 0u; e < 4u; e++) {
    let up = 24u - 8u * e;
    s += (bitcast<i32>(a << up) >> 24u) * (bitcast<i32>(b << up) >> 24u);
  }
  return s;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row = wg.y * 16u + lid.y;
  let col = wg.x * 16u + lid.x;
  let bRow = wg.x * 16u + lid.y; // the row of B this thread copies
  var acc = 0;
  for (var w0 = 0u; w0 < p.words; w0 += 16u) {
    let w = w0 + lid.x;
    As[lid.y * 16u + lid.x] = select(0u, A[row * p.words + w], row < p.m && w < p.words);
    Bs[lid.y * 16u + lid.x] = select(0u, B[bRow * p.words + w], bRow < p.n && w < p.words);
    workgroupBarrier();
    for (var j = 0u; j < 16u; j++) { acc += dot4(As[lid.y * 16u + j], Bs[lid.x * 16u + j]); }
    workgroupBarrier();
  }
  if (row < p.m && col < p.n) { C[row * p.ldc + col] = acc; }
}`,
};

/**
 * out[i, j] = s_i s_j (C[i, j] + beta_j A_i + alpha_i B_j + k alpha_i beta_j) (+ bias[j]) for
 * i < m, j < n, from the rows' (s, alpha, A) in xInfo and (s, beta, B) in wInfo.
 */
export const INTEGER_FINISH: Kernel = {
  name: 'integer_finish',
  buffers: [{ name: 'C', type: 'i32' }, { name: 'xInfo' }, { name: 'wInfo' }, { name: 'bias' }, { name: 'out', write: true }],
  params: { m: 'u32', n: 'u32', k: 'u32', ldc: 'u32', hasBias: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let idx = groupIndex(wg, nwg) * 256u + t;
  if (idx >= p.m * p.n) { return; }
  let i = idx / p.n;
  let j = idx % p.n;
  let alpha = i32(xInfo[3u * i + 1u]);
  let beta = i32(wInfo[3u * j + 1u]);
  let exact = C[i * p.ldc + j] + beta * i32(xInfo[3u * i + 2u]) + alpha * i32(wInfo[3u * j + 2u]) + i32(p.k) * alpha * beta;
  var y = (xInfo[3u * i] * wInfo[3u * j]) * f32(exact);
  if (p.hasBias == 1u) { y += bias[j]; }
  out[idx] = y;
}`,
};
