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

/** Both attention kernels' buffers and parameters (the backend fills them alike). */
const ATTENTION_BINDINGS = {
  buffers: [{ name: 'q' }, { name: 'k' }, { name: 'v' }, { name: 'out', write: true }],
  params: {
    batch: 'u32', queries: 'u32', keys: 'u32', past: 'u32', heads: 'u32', kvHeads: 'u32', headDim: 'u32', window: 'u32', scale: 'f32',
  },
} as const satisfies Pick<Kernel, 'buffers' | 'params'>;

export const ATTENTION: Kernel = {
  name: 'attention',
  ...ATTENTION_BINDINGS,
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

/** Queries and keys of a tile of ATTENTION_TILED, and the largest head dimension it takes. */
export const TILE_QUERIES = 64;
const TILE_KEYS = 16;
export const TILED_MAX_HEAD_DIM = 128;

/**
 * The same attention, tiled as FlashAttention does (Dao et al. 2022): a workgroup takes 64 queries
 * of one head and walks the keys 16 at a time, loading each key and value block into workgroup
 * memory once for all 64 queries (ATTENTION reads them once per query: ~137 GB per Llama-2-7B
 * block at 2 x 2048 tokens). Four threads share a query and split the head's features between
 * them: thread `part` holds the features of vec4s part, part + 4, ..., 28 + part (neighbouring
 * threads read neighbouring vec4s, so no two share a bank) of its query in registers, and the
 * same features of the output accumulator. For each block, a thread
 *   - scores its features against all 16 keys (partial dot products: 4 multiply-adds per vec4
 *     read from workgroup memory; the query never re-read),
 *   - shares the 16 partial scores, sums the four parts of each (every thread of the query gets
 *     the full scores, no second barrier), and applies the online softmax,
 *   - accumulates its features of sum_j e^(s_j - m) v_j (vec4 reads of the value block).
 * Head dimensions up to 128 (features past the head's are zeros throughout).
 */
export const ATTENTION_TILED: Kernel = {
  name: 'attention-tiled',
  ...ATTENTION_BINDINGS,
  body: /* wgsl */ `
const BQ = ${TILE_QUERIES}u;
const BK = ${TILE_KEYS}u;
const HV = ${TILED_MAX_HEAD_DIM / 4}u; // vec4s of a (padded) head
const VT = ${TILED_MAX_HEAD_DIM / 16}u; // vec4s a thread holds: part, part + 4, ...
var<workgroup> ks: array<vec4f, ${TILE_KEYS * (TILED_MAX_HEAD_DIM / 4)}>;
var<workgroup> vs: array<vec4f, ${TILE_KEYS * (TILED_MAX_HEAD_DIM / 4)}>;
// The four parts' partial scores of each query: [query][part][key / 4] as vec4s.
var<workgroup> partial: array<vec4f, ${TILE_QUERIES * 4 * (TILE_KEYS / 4)}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let blocks = (p.queries + BQ - 1u) / BQ;
  let id = groupIndex(wg, nwg);
  let qb = id % blocks;
  let h = (id / blocks) % p.heads;
  let b = id / blocks / p.heads;
  if (b >= p.batch) { return; } // the whole workgroup
  let g = h / (p.heads / p.kvHeads);
  let hd = p.headDim;
  let ldq = p.heads * hd;
  let ldk = p.kvHeads * hd;
  let kBase = b * p.keys * ldk + g * hd;
  let r = tid / 4u;
  let part = tid % 4u;
  let live = qb * BQ + r < p.queries;
  let qi = min(qb * BQ + r, p.queries - 1u);
  let pos = p.past + qi;
  let qRow = (b * p.queries + qi) * ldq + h * hd;
  var lo = 0u;
  if (p.window > 0u && pos + 1u > p.window) { lo = pos + 1u - p.window; }
  // Keys the tile needs: from the first query's window start to the last query's position.
  let firstPos = p.past + qb * BQ;
  let lastPos = p.past + min(qb * BQ + BQ, p.queries) - 1u;
  var start = 0u;
  if (p.window > 0u && firstPos + 1u > p.window) { start = firstPos + 1u - p.window; }

  // This thread's features of its query (scaled once), and of the output.
  var qv: array<vec4f, ${TILED_MAX_HEAD_DIM / 16}>;
  var acc: array<vec4f, ${TILED_MAX_HEAD_DIM / 16}>;
  for (var c = 0u; c < VT; c++) {
    acc[c] = vec4f(0.0);
    for (var e = 0u; e < 4u; e++) {
      let d = (4u * c + part) * 4u + e;
      qv[c][e] = select(0.0, q[qRow + min(d, hd - 1u)] * p.scale, d < hd);
    }
  }
  var m = -3.402823e38;
  var l = 0.0;
  for (var j0 = start; j0 <= lastPos; j0 += BK) {
    for (var e = tid; e < BK * HV * 4u; e += 256u) {
      let j = e / (HV * 4u);
      let d = e % (HV * 4u);
      let key = j0 + j;
      let inside = d < hd && key < p.keys;
      let at = kBase + min(key, p.keys - 1u) * ldk + min(d, hd - 1u);
      ks[e / 4u][e % 4u] = select(0.0, k[at], inside);
      vs[e / 4u][e % 4u] = select(0.0, v[at], inside);
    }
    workgroupBarrier();
    var s: array<f32, ${TILE_KEYS}>;
    for (var u = 0u; u < BK; u++) {
      var dot4 = vec4f(0.0);
      for (var c = 0u; c < VT; c++) { dot4 = fma(qv[c], ks[u * HV + 4u * c + part], dot4); }
      s[u] = dot4.x + dot4.y + dot4.z + dot4.w;
    }
    for (var u = 0u; u < BK / 4u; u++) { partial[(r * 4u + part) * (BK / 4u) + u] = vec4f(s[4u * u], s[4u * u + 1u], s[4u * u + 2u], s[4u * u + 3u]); }
    workgroupBarrier();
    var blockMax = m;
    for (var u = 0u; u < BK / 4u; u++) {
      var sum = vec4f(0.0);
      for (var t = 0u; t < 4u; t++) { sum += partial[(r * 4u + t) * (BK / 4u) + u]; }
      for (var e = 0u; e < 4u; e++) {
        let key = j0 + 4u * u + e;
        s[4u * u + e] = select(-3.402823e38, sum[e], key >= lo && key <= pos);
        blockMax = max(blockMax, s[4u * u + e]);
      }
    }
    let rescale = exp(m - blockMax);
    l *= rescale;
    for (var c = 0u; c < VT; c++) { acc[c] *= rescale; }
    for (var u = 0u; u < BK; u++) {
      let key = j0 + u;
      let w = select(0.0, exp(s[u] - blockMax), key >= lo && key <= pos);
      l += w;
      for (var c = 0u; c < VT; c++) { acc[c] = fma(vec4f(w), vs[u * HV + 4u * c + part], acc[c]); }
    }
    m = blockMax;
    workgroupBarrier(); // the next block overwrites ks, vs and partial
  }
  if (live) {
    for (var c = 0u; c < VT; c++) {
      for (var e = 0u; e < 4u; e++) {
        let d = (4u * c + part) * 4u + e;
        if (d < hd) { out[qRow + d] = acc[c][e] / l; }
      }
    }
  }
}`,
};
