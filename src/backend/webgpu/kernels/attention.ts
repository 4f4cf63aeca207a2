/**
 * Causal scaled-dot-product attention with grouped KV heads, for both of the backend's cases:
 * windows of a batch (queries and keys at the same positions) and new queries over a KV cache
 * (queries at positions past.., keys at 0..past+n-1). Query i of a window sits at position
 * past + i and sees keys lo..past+i, lo = past+i-window+1 with a sliding window, else 0.
 *
 * One workgroup of 64 threads per (query row, head), streaming over the keys 64 at a time with
 * the online softmax (running max m and sum l, rescaling the accumulator when m grows):
 *   s_j = q.k_j / sqrt(headDim);   out = sum_j e^(s_j - m) v_j / sum_j e^(s_j - m).
 * Thread t scores key j0 + t of the block, then accumulates output features t, t+64, t+128, t+192
 * (head dimensions up to 256).
 */
import type { Kernel } from './kernel.js';

export const MAX_HEAD_DIM = 256;

export const ATTENTION: Kernel = {
  name: 'attention',
  buffers: [{ name: 'q' }, { name: 'k' }, { name: 'v' }, { name: 'out', write: true }],
  params: {
    batch: 'u32', queries: 'u32', keys: 'u32', past: 'u32', heads: 'u32', kvHeads: 'u32', headDim: 'u32', window: 'u32', scale: 'f32',
  },
  body: /* wgsl */ `
var<workgroup> qs: array<f32, 256>;
var<workgroup> scores: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let id = groupIndex(wg, nwg);
  if (id >= p.batch * p.queries * p.heads) { return; }
  let h = id % p.heads;
  let row = id / p.heads;              // b * queries + i
  let b = row / p.queries;
  let pos = p.past + row % p.queries;
  let g = h / (p.heads / p.kvHeads);
  let hd = p.headDim;
  let ldq = p.heads * hd;
  let ldk = p.kvHeads * hd;
  let kBase = b * p.keys * ldk + g * hd;

  for (var d = t; d < hd; d += 64u) { qs[d] = q[row * ldq + h * hd + d]; }
  workgroupBarrier();

  var lo = 0u;
  if (p.window > 0u && pos + 1u > p.window) { lo = pos + 1u - p.window; }
  var m = -3.402823e38;
  var l = 0.0;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = lo; j0 <= pos; j0 += 64u) {
    let j = j0 + t;
    var s = -3.402823e38;
    if (j <= pos) {
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot = fma(qs[d], k[kBase + j * ldk + d], dot); }
      s = dot * p.scale;
    }
    scores[t] = s;
    workgroupBarrier();
    let count = min(64u, pos + 1u - j0);
    var blockMax = m;
    for (var u = 0u; u < count; u++) { blockMax = max(blockMax, scores[u]); }
    let rescale = exp(m - blockMax);
    l *= rescale;
    for (var c = 0u; c < 4u; c++) { acc[c] *= rescale; }
    for (var u = 0u; u < count; u++) {
      let w = exp(scores[u] - blockMax);
      l += w;
      let vo = kBase + (j0 + u) * ldk;
      for (var c = 0u; c < 4u; c++) {
        let d = t + 64u * c;
        if (d < hd) { acc[c] = fma(w, v[vo + d], acc[c]); }
      }
    }
    m = blockMax;
    workgroupBarrier();
  }
  for (var c = 0u; c < 4u; c++) {
    let d = t + 64u * c;
    if (d < hd) { out[row * ldq + h * hd + d] = acc[c] / l; }
  }
}`,
};
