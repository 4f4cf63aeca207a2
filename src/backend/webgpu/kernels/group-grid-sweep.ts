/**
 * One block of columns of lowbit's group grids (quant/group-grid.ts, quant/grid.ts), swept in
 * order on the GPU: GPTQ's inner loop (quant/methods/gptq.ts) when `feedback` is 1, plain
 * round-to-nearest when it is 0. Rows are independent in both, so a row is one subgroup-sized team
 * of 32 threads, each holding 4 consecutive columns of the block in registers (8 rows a
 * workgroup). Column by column, in step:
 *   - when a group starts, its grid is fitted: min/max (or absmax) of the row's current values
 *     reduced over the team in workgroup memory (values past the block are read from W, which the
 *     solver's lazy update has not reached yet, as on the CPU), then group-grid-fit.ts's rule;
 *   - the column's owner rounds the weight to its code, keeps the value it decodes to and, with
 *     feedback, shares e = (w - q) / U[j, j] (saved in E for the lazy update of later blocks);
 *   - with feedback, every thread updates its later columns: w_k -= e U[j, k] (paper eq. 3, exact
 *     inside the block).
 * A thread a row ran ~30x slower on the H100: 4096 rows are too few threads to hide latency.
 * Codes are packed four to a u32 word per row: a thread's four columns are one word.
 */
import type { Kernel } from './kernel.js';
import { FIT_GRID_PARAMS, FIT_GRID_WGSL } from './group-grid-fit.js';

/** Columns of one block (the solvers' lazy-update block): 32 threads x 4 columns. */
export const SWEEP_BLOCK = 128;
/** Rows per workgroup (a team of 32 threads each). */
export const SWEEP_ROWS = 8;

/**
 * WGSL: the column sweeps' entry point and team layout: lane in a row's team of 32, the row (lr of
 * the workgroup's SWEEP_ROWS, r overall, `row` its first element; past the end, the last row), `live`.
 */
export const SWEEP_ENTRY = `@compute @workgroup_size(${SWEEP_ROWS * 32})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let lane = lid.x % 32u;
  let lr = lid.x / 32u;
  let r = groupIndex(wg, nwg) * ${SWEEP_ROWS}u + lr;
  // Rows past the end compute on the last row and store nothing: every thread reaches every barrier.
  let live = r < p.rows;
  let row = min(r, p.rows - 1u) * p.cols;`;

/**
 * WGSL shared by the column sweeps (this one, coordinate-sweep.ts): after the owner of column i has
 * put its value in slot i % 2 of `slots`, the barrier, then each thread moves its later columns of
 * the block (registers `acc`, 4 columns from j0) by that value times row `col` of `matrix`.
 */
export function laterColumns(acc: string, slots: string, matrix: string): string {
  return `workgroupBarrier();
    let moved = ${slots}[(i % 2u) * ${SWEEP_ROWS}u + lr];
    for (var u = 0u; u < 4u; u++) {
      let j = j0 + u;
      if (j > i && j < p.count) { ${acc}[u] -= moved * ${matrix}[col * p.cols + p.i1 + j]; }
    }`;
}

/** WGSL: a thread's 4 columns of the block (registers `acc`) stored back into `target` (live rows only). */
export function storeBlock(acc: string, target: string): string {
  return `if (live) {
    for (var t = 0u; t < 4u; t++) { if (j0 + t < p.count) { ${target}[row + p.i1 + j0 + t] = ${acc}[t]; } }
  }`;
}

export const GROUP_GRID_SWEEP: Kernel = {
  name: 'group-grid-sweep',
  buffers: [
    { name: 'W', write: true }, { name: 'U' }, { name: 'E', write: true },
    { name: 'codes', type: 'u32', write: true }, { name: 'scales', write: true }, { name: 'zeros', type: 'u32', write: true },
  ],
  params: { rows: 'u32', cols: 'u32', i1: 'u32', count: 'u32', groupSize: 'u32', groups: 'u32', ...FIT_GRID_PARAMS, words: 'u32', feedback: 'u32' },
  body: /* wgsl */ `
// Column i's errors in slot i % 2: a thread writes the next column's slot only after the barrier
// that every thread passed after reading this one, so one barrier a column suffices.
var<workgroup> errs: array<f32, ${2 * SWEEP_ROWS}>;
var<workgroup> lows: array<f32, ${SWEEP_ROWS * 32}>;
var<workgroup> highs: array<f32, ${SWEEP_ROWS * 32}>;

${FIT_GRID_WGSL}

${SWEEP_ENTRY}
  let end = p.i1 + p.count;
  let j0 = 4u * lane; // this thread's columns: i1 + j0 .. i1 + j0 + 3
  var w = vec4f(0.0);
  for (var t = 0u; t < 4u; t++) { if (j0 + t < p.count) { w[t] = W[row + p.i1 + j0 + t]; } }
  // A group that started in an earlier block keeps its grid.
  var g = p.i1 / p.groupSize;
  var scale = scales[min(r, p.rows - 1u) * p.groups + g];
  var zero = f32(zeros[min(r, p.rows - 1u) * p.groups + g]);
  var word = 0u;
  for (var i = 0u; i < p.count; i++) {
    let col = p.i1 + i;
    if (col % p.groupSize == 0u) {
      g = col / p.groupSize;
      let gEnd = min(p.cols, col + p.groupSize);
      var lo = 3.0e38;
      var hi = -3.0e38;
      for (var t = 0u; t < 4u; t++) {
        let c = p.i1 + j0 + t;
        if (j0 + t < p.count && c >= col && c < gEnd) { lo = min(lo, w[t]); hi = max(hi, w[t]); }
      }
      for (var c = max(end, col) + lane; c < gEnd; c += 32u) { lo = min(lo, W[row + c]); hi = max(hi, W[row + c]); }
      lows[lid.x] = lo;
      highs[lid.x] = hi;
      workgroupBarrier();
      for (var s = 16u; s > 0u; s >>= 1u) {
        if (lane < s) {
          lows[lid.x] = min(lows[lid.x], lows[lid.x + s]);
          highs[lid.x] = max(highs[lid.x], highs[lid.x + s]);
        }
        workgroupBarrier();
      }
      lo = lows[lr * 32u];
      hi = highs[lr * 32u];
      workgroupBarrier();
      let fitted = fitGrid(lo, hi);
      scale = fitted.x;
      zero = fitted.y;
      if (live && lane == 0u) {
        scales[r * p.groups + g] = scale;
        zeros[r * p.groups + g] = u32(zero);
      }
    }
    let t = i % 4u;
    if (lane == i / 4u) {
      let x = w[t];
      let code = clamp(round(x / scale) + zero, 0.0, p.maxq);
      let q = scale * (code - zero);
      w[t] = q;
      word |= u32(code) << (8u * t);
      if (live && (t == 3u || i + 1u == p.count)) { codes[r * p.words + col / 4u] = word; }
      if (p.feedback == 1u) {
        let e = (x - q) / U[col * p.cols + col];
        errs[(i % 2u) * ${SWEEP_ROWS}u + lr] = e;
        if (live) { E[r * ${SWEEP_BLOCK}u + i] = e; }
      }
    }
    if (p.feedback == 1u) {
      ${laterColumns('w', 'errs', 'U')}
    }
  }
  ${storeBlock('w', 'W')}
}`,
};
