/**
 * Kernels that reduce over each row of a [rows, d] tensor, one workgroup of 256 threads a row:
 * sums of squares, RMSNorm, the NLL of a target under softmax, and per-token activation
 * quantization. Each thread folds a strided slice of the row, then the workgroup combines the
 * 256 partial results in a tree (`reduceSum`, `reduceMax`).
 */
import type { Kernel } from './kernel.js';

const REDUCTIONS = /* wgsl */ `
var<workgroup> red: array<f32, 256>;

fn reduceSum(t: u32, v: f32) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] += red[t + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduceMax(t: u32, v: f32) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = max(red[t], red[t + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduceMin(t: u32, v: f32) -> f32 { return -reduceMax(t, -v); }
`;

function rowKernel(name: string, buffers: Kernel['buffers'], params: Kernel['params'], rowBody: string, functions = ''): Kernel {
  return {
    name,
    buffers,
    params: { rows: 'u32', d: 'u32', ...params },
    body: /* wgsl */ `${REDUCTIONS}${functions}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = groupIndex(wg, nwg);
  if (row >= p.rows) { return; }
  let o = row * p.d;
${rowBody}
}`,
  };
}

/** out[row] = sum_j x[row, j]^2. */
export const ROW_SUM_SQUARES = rowKernel('row_sum_squares', [{ name: 'x' }, { name: 'out', write: true }], {}, `
  var s = 0.0;
  for (var j = t; j < p.d; j += 256u) { s = fma(x[o + j], x[o + j], s); }
  let total = reduceSum(t, s);
  if (t == 0u) { out[row] = total; }`);

/** RMSNorm: out = w * (x / sqrt(mean(x^2) + eps)). */
export const RMS_NORM = rowKernel('rms_norm', [{ name: 'x' }, { name: 'w' }, { name: 'out', write: true }], { eps: 'f32' }, `
  var s = 0.0;
  for (var j = t; j < p.d; j += 256u) { s = fma(x[o + j], x[o + j], s); }
  let inv = 1.0 / sqrt(reduceSum(t, s) / f32(p.d) + p.eps);
  for (var j = t; j < p.d; j += 256u) { out[o + j] = w[j] * (x[o + j] * inv); }`);

/** LayerNorm: out = (x - mean) / sqrt(mean((x - mean)^2) + eps) * w + b, the mean taken first (two passes). */
export const LAYER_NORM = rowKernel('layer_norm', [{ name: 'x' }, { name: 'w' }, { name: 'b' }, { name: 'out', write: true }], { eps: 'f32' }, `
  var s = 0.0;
  for (var j = t; j < p.d; j += 256u) { s += x[o + j]; }
  let mean = reduceSum(t, s) / f32(p.d);
  var v = 0.0;
  for (var j = t; j < p.d; j += 256u) { let c = x[o + j] - mean; v = fma(c, c, v); }
  let inv = 1.0 / sqrt(reduceSum(t, v) / f32(p.d) + p.eps);
  for (var j = t; j < p.d; j += 256u) { out[o + j] = (x[o + j] - mean) * inv * w[j] + b[j]; }`);

/**
 * Top-k routing (Mixtral): one thread a row of expert logits (at most 1024 experts): softmax,
 * the topK largest (ties to the lower index) renormalised to sum 1, the rest 0.
 */
export const ROUTE_TOP_K: Kernel = {
  name: 'route_top_k',
  buffers: [{ name: 'x' }, { name: 'out', write: true }],
  params: { rows: 'u32', d: 'u32', k: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = groupIndex(wg, nwg) * 64u + t;
  if (row >= p.rows) { return; }
  let o = row * p.d;
  var m = -3.402823e38;
  for (var j = 0u; j < p.d; j++) { m = max(m, x[o + j]); }
  var sum = 0.0;
  for (var j = 0u; j < p.d; j++) { let e = exp(x[o + j] - m); out[o + j] = e; sum += e; }
  var chosen: array<u32, 32>;
  var kept = 0.0;
  for (var k = 0u; k < p.k; k++) {
    var best = p.d;
    for (var j = 0u; j < p.d; j++) {
      let taken = (chosen[j / 32u] >> (j % 32u)) & 1u;
      if (taken == 0u && (best == p.d || out[o + j] > out[o + best])) { best = j; }
    }
    chosen[best / 32u] |= 1u << (best % 32u);
    kept += out[o + best] / sum;
  }
  for (var j = 0u; j < p.d; j++) {
    let taken = (chosen[j / 32u] >> (j % 32u)) & 1u;
    out[o + j] = select(0.0, out[o + j] / sum / kept, taken == 1u);
  }
}`,
};

/** Negative log-likelihood of the row's target: logsumexp(x) - x[target], with the max subtracted first. */
export const NLL = rowKernel('nll', [{ name: 'x' }, { name: 'targets', type: 'u32' }, { name: 'out', write: true }], {}, `
  var m = -3.402823e38;
  for (var j = t; j < p.d; j += 256u) { m = max(m, x[o + j]); }
  let rowMax = reduceMax(t, m);
  var s = 0.0;
  for (var j = t; j < p.d; j += 256u) { s += exp(x[o + j] - rowMax); }
  let total = reduceSum(t, s);
  if (t == 0u) { out[row] = rowMax + log(total) - x[o + targets[row]]; }`);

/**
 * The per-token grid of a row whose range is [lo, hi] (lo <= 0 <= hi): (scale, zero point) from the
 * kernel's qmax, clip and symmetric parameters. Shared by ACT_QUANT and ACT_QUANT_CODES
 * (integer-linear.ts), which must choose the same codes.
 */
export const ACT_GRID = /* wgsl */ `
fn actGrid(lo: f32, hi: f32) -> vec2f {
  if (p.symmetric == 1u) { return vec2f((p.clip * max(-lo, hi)) / p.qmax, 0.0); }
  let scale = (p.clip * (hi - lo)) / p.qmax;
  if (scale > 0.0) { return vec2f(scale, round((-p.clip * lo) / scale)); }
  return vec2f(scale, 0.0);
}`;

/**
 * Per-token fake quantization (QuaRot's ActQuantizer; ActQuantSpec in backend.ts): the row's
 * range [min(x, 0), max(x, 0)] scaled by `clip`, symmetric (zero point 0, levels qmin..qmax =
 * -2^(b-1)..2^(b-1)-1) or asymmetric (levels 0..2^b-1, integer zero point). WGSL's round() rounds
 * half to even, as the CPU's roundHalfEven. An all-zero row stays zero.
 */
export const ACT_QUANT = rowKernel('act_quant', [{ name: 'x' }, { name: 'out', write: true }],
  { qmin: 'f32', qmax: 'f32', clip: 'f32', symmetric: 'u32' }, `
  var lo = 0.0;
  var hi = 0.0;
  for (var j = t; j < p.d; j += 256u) { lo = min(lo, x[o + j]); hi = max(hi, x[o + j]); }
  let grid = actGrid(reduceMin(t, lo), reduceMax(t, hi));
  let scale = grid.x;
  let zero = grid.y;
  for (var j = t; j < p.d; j += 256u) {
    if (!(scale > 0.0)) { out[o + j] = x[o + j]; continue; }
    let q = clamp(round(x[o + j] / scale) + zero, p.qmin, p.qmax);
    out[o + j] = scale * (q - zero);
  }`, ACT_GRID);
