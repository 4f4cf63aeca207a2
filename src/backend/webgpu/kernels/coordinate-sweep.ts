/**
 * One block of QuantEase's coordinate descent (quant/methods/quantease.ts) on group grids fitted
 * beforehand (group-grid-fit.ts), on the GPU. With S = X X^T, P = W S and R = W_hat S as it was
 * before the block, column j's exact minimiser over its grid is (paper, eq. 6-7)
 *     beta_j = (P_j - R_j + W_hat_j S_jj) / S_jj,   W_hat_j = round(beta_j)  (beta_j itself when relaxed),
 * and changing column j by d_j moves the numerators of the block's later columns k by -d_j S_jk
 * (R_k += d_j S_jk): exact Gauss-Seidel inside the block. The caller applies the block's changes
 * D to all of R afterwards with one product (R += D S[block, :]).
 *
 * Laid out as the GPTQ sweep (group-grid-sweep.ts): rows are independent, a row is a team of 32
 * threads holding 4 consecutive columns each in registers (numerator and current value), 8 rows a
 * workgroup; the column's owner rounds and shares d_j through workgroup memory, one barrier a column.
 * A dead input (S_jj = 0) is just rounded. Codes are packed four to a u32 word per row.
 */
import type { Kernel } from './kernel.js';
import { SWEEP_BLOCK, SWEEP_ENTRY, SWEEP_ROWS, laterColumns, storeBlock } from './group-grid-sweep.js';

export const COORDINATE_SWEEP: Kernel = {
  name: 'coordinate-sweep',
  buffers: [
    { name: 'Q', write: true }, { name: 'P' }, { name: 'R' }, { name: 'S' }, { name: 'D', write: true },
    { name: 'codes', type: 'u32', write: true }, { name: 'scales' }, { name: 'zeros', type: 'u32' },
  ],
  params: { rows: 'u32', cols: 'u32', i1: 'u32', count: 'u32', groupSize: 'u32', groups: 'u32', maxq: 'f32', words: 'u32', relaxed: 'u32' },
  body: /* wgsl */ `
// Column i's change in slot i % 2 (see group-grid-sweep.ts: one barrier a column suffices).
var<workgroup> deltas: array<f32, ${2 * SWEEP_ROWS}>;

${SWEEP_ENTRY}
  let gridRow = min(r, p.rows - 1u) * p.groups;
  let j0 = 4u * lane; // this thread's columns: i1 + j0 .. i1 + j0 + 3
  var q = vec4f(0.0); // W_hat
  var x = vec4f(0.0); // numerators P_k - R_k + W_hat_k S_kk, kept current inside the block
  for (var t = 0u; t < 4u; t++) {
    let c = p.i1 + j0 + t;
    if (j0 + t < p.count) { q[t] = Q[row + c]; x[t] = P[row + c] - R[row + c] + q[t] * S[c * p.cols + c]; }
  }
  var word = 0u;
  for (var i = 0u; i < p.count; i++) {
    let col = p.i1 + i;
    let t = i % 4u;
    if (lane == i / 4u) {
      let sjj = S[col * p.cols + col];
      let old = q[t];
      let beta = select(x[t] / sjj, old, sjj == 0.0);
      let g = gridRow + col / p.groupSize;
      let scale = scales[g];
      let zero = f32(zeros[g]);
      let code = clamp(round(beta / scale) + zero, 0.0, p.maxq);
      let next = select(scale * (code - zero), beta, p.relaxed == 1u && sjj != 0.0);
      q[t] = next;
      word |= u32(code) << (8u * t);
      if (live && (t == 3u || i + 1u == p.count)) { codes[r * p.words + col / 4u] = word; }
      let d = next - old;
      deltas[(i % 2u) * ${SWEEP_ROWS}u + lr] = d;
      if (live) { D[r * ${SWEEP_BLOCK}u + i] = d; }
    }
    ${laterColumns('x', 'deltas', 'S')}
  }
  ${storeBlock('q', 'Q')}
}`,
};
