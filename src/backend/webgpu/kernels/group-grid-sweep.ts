/**
 * One block of columns of lowbit's group grids (quant/group-grid.ts, quant/grid.ts), swept in
 * order on the GPU: GPTQ's inner loop (quant/methods/gptq.ts) when `feedback` is 1, plain
 * round-to-nearest when it is 0. Rows are independent in both, so each thread owns one row: it
 * keeps the row's block of columns in workgroup memory and, column by column,
 *   - fits the group's grid when a group starts (min/max or absmax of the current values, the
 *     scale rounded to f16 as it is stored; values past the block are read from W, which the
 *     solver's lazy update has not reached yet, as on the CPU),
 *   - rounds the weight to its code and stores the value it decodes to back into W,
 *   - with feedback: e = (w - q) / U[j, j], saved in E for the lazy update of later blocks, and
 *     w_k -= e U[j, k] for the block's later columns (paper eq. 3, exact inside the block).
 * Codes are packed four to a u32 word per row (blocks start at multiples of 4).
 */
import type { Kernel } from './kernel.js';

/** Columns of one block (the solvers' lazy-update block), and rows (threads) per workgroup. */
export const SWEEP_BLOCK = 128;
export const SWEEP_ROWS = 64;

export const GROUP_GRID_SWEEP: Kernel = {
  name: 'group-grid-sweep',
  buffers: [
    { name: 'W', write: true }, { name: 'U' }, { name: 'E', write: true },
    { name: 'codes', type: 'u32', write: true }, { name: 'scales', write: true }, { name: 'zeros', type: 'u32', write: true },
  ],
  params: { rows: 'u32', cols: 'u32', i1: 'u32', count: 'u32', groupSize: 'u32', groups: 'u32', maxq: 'f32', symmetric: 'u32', half: 'f32', words: 'u32', feedback: 'u32' },
  body: /* wgsl */ `
// ws[j * ROWS + lr]: column i1 + j of this workgroup's row lr.
var<workgroup> ws: array<f32, ${SWEEP_BLOCK * SWEEP_ROWS}>;

/** x (> 0, finite) rounded to the nearest f16, ties to even; never below the smallest f16 subnormal (grid.ts's f16Scale). */
fn roundF16(x: f32) -> f32 {
  if (x < 6.103515625e-5) { return max(round(x * 16777216.0), 1.0) * 5.9604644775390625e-8; }
  let b = bitcast<u32>(x);
  return min(bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u), 65504.0);
}

@compute @workgroup_size(${SWEEP_ROWS})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let lr = lid.x;
  let r = groupIndex(wg, nwg) * ${SWEEP_ROWS}u + lr;
  if (r >= p.rows) { return; } // no barriers below: a row is one thread's
  let row = r * p.cols;
  let end = p.i1 + p.count;
  for (var j = 0u; j < p.count; j++) { ws[j * ${SWEEP_ROWS}u + lr] = W[row + p.i1 + j]; }
  // A group that started in an earlier block keeps its grid.
  var g = r * p.groups + p.i1 / p.groupSize;
  var scale = scales[g];
  var zero = f32(zeros[g]);
  var word = 0u;
  for (var i = 0u; i < p.count; i++) {
    let col = p.i1 + i;
    if (col % p.groupSize == 0u) {
      g = r * p.groups + col / p.groupSize;
      var lo = 3.0e38;
      var hi = -3.0e38;
      for (var c = col; c < min(p.cols, col + p.groupSize); c++) {
        var v: f32;
        if (c < end) { v = ws[(c - p.i1) * ${SWEEP_ROWS}u + lr]; } else { v = W[row + c]; }
        lo = min(lo, v);
        hi = max(hi, v);
      }
      if (p.symmetric == 1u) {
        let absMax = max(abs(lo), abs(hi));
        scale = select(1.0, roundF16(absMax / max(p.half - 1.0, 1.0)), absMax > 0.0);
        zero = p.half;
      } else {
        lo = min(lo, 0.0);
        hi = max(hi, 0.0);
        if (hi == lo) { scale = 1.0; zero = 0.0; } else {
          scale = roundF16((hi - lo) / p.maxq);
          zero = clamp(round(-lo / scale), 0.0, p.maxq);
        }
      }
      scales[g] = scale;
      zeros[g] = u32(zero);
    }
    let x = ws[i * ${SWEEP_ROWS}u + lr];
    let code = clamp(round(x / scale) + zero, 0.0, p.maxq);
    let q = scale * (code - zero);
    ws[i * ${SWEEP_ROWS}u + lr] = q;
    word |= u32(code) << (8u * (col % 4u));
    if (col % 4u == 3u || i + 1u == p.count) {
      codes[r * p.words + col / 4u] = word;
      word = 0u;
    }
    if (p.feedback == 1u) {
      let e = (x - q) / U[col * p.cols + col];
      E[r * ${SWEEP_BLOCK}u + i] = e;
      for (var j = i + 1u; j < p.count; j++) { ws[j * ${SWEEP_ROWS}u + lr] -= e * U[col * p.cols + p.i1 + j]; }
    }
  }
  for (var j = 0u; j < p.count; j++) { W[row + p.i1 + j] = ws[j * ${SWEEP_ROWS}u + lr]; }
}`,
};
