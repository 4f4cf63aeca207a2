/**
 * f32 products x W^T on the int8 tensor cores, by exact int8 slices (kernels/split-product.ts has
 * the arithmetic): each operand is cut once into slices (the weight's can be kept), then one int8
 * product per level (kernels/int8-matmul.ts) and one pass that forms the f32 result.
 */
import { rowsCols, type Tensor } from '../backend.js';
import type { SolverHost } from './solvers.js';
import { INT8_K_STEP, INT8_MATMUL, INT8_TILE } from './kernels/int8-matmul.js';
import { ACCUMULATE_LEVEL, MAX_SLICES, SPLIT_ROWS } from './kernels/split-product.js';

/** What the products use of the backend (webgpu-backend.ts): a part of what the solvers use. */
export type SplitHost = Pick<SolverHost, 'output' | 'dispatch' | 'free'>;

/** The rows of a matrix [rows, k] cut into int8 slices, padded for INT8_MATMUL. */
export interface SplitOperand {
  /** [rowsPad, slices * kPad] int8, four to a word: slices in order, or reversed (a weight). */
  words: Tensor;
  /** [rowsPad]: each row's power-of-two scale. */
  scales: Tensor;
  rows: number;
  rowsPad: number;
  k: number;
  kPad: number;
  slices: number;
}

const padTo = (n: number, m: number) => Math.ceil(n / m) * m;

/** Cuts the rows of x [rows, k] into `slices` int8 slices; `reversed` stores them last first (the right operand). */
export function splitRows(be: SplitHost, x: Tensor, slices: number, reversed: boolean): SplitOperand {
  if (!(slices >= 1 && slices <= MAX_SLICES)) throw new Error(`split: ${slices} slices (1..${MAX_SLICES})`);
  const [rows, k] = rowsCols(x);
  const rowsPad = padTo(rows, INT8_TILE), kPad = padTo(k, INT8_K_STEP);
  const words = be.output([rowsPad, (slices * kPad) / 4]), scales = be.output([rowsPad]);
  be.dispatch(SPLIT_ROWS, [x, words, scales], { rows, cols: k, rowsPad, kPad, slices, reversed: reversed ? 1 : 0 }, rowsPad);
  return { words, scales, rows, rowsPad, k, kPad, slices };
}

export function freeSplit(be: SplitHost, s: SplitOperand): void {
  be.free(s.words);
  be.free(s.scales);
}

/**
 * x W^T (+ bias) [x.rows, w.rows] (or `shape`, of as many elements) from split operands (w split
 * `reversed`), keeping the levels 0..levels-1 (levels at most either operand's slices).
 */
export function splitProduct(be: SplitHost, x: SplitOperand, w: SplitOperand, levels: number, bias?: Tensor, shape: readonly number[] = [x.rows, w.rows]): Tensor {
  if (x.k !== w.k) throw new Error(`split product: k ${x.k} vs ${w.k}`);
  if (!(levels >= 1 && levels <= Math.min(x.slices, w.slices))) throw new Error(`split product: ${levels} levels of ${x.slices} and ${w.slices} slices`);
  const { rowsPad: mPad, kPad } = x, nPad = w.rowsPad;
  // One level's i32 product at a time (all of them at once took 0.5 GB at 4096 x 11008 and ran
  // several times slower), added into the f32 result from the smallest level up.
  const c = be.output([mPad, nPad]), out = be.output(shape);
  for (let l = levels - 1; l >= 0; l--) {
    // C_l = X[:, 0 : (l+1) kPad] W[:, (S-1-l) kPad : S kPad]^T: the pairs of slices whose levels add to l.
    be.dispatch(INT8_MATMUL, [x.words, w.words, c], {
      k: (l + 1) * kPad, lda: (x.slices * kPad) / 16, ldb: (w.slices * kPad) / 16, offA: 0, offB: ((w.slices - 1 - l) * kPad) / 16, ldc: nPad, offC: 0,
    }, [nPad / INT8_TILE, mPad / INT8_TILE]);
    be.dispatch(ACCUMULATE_LEVEL, [c, x.scales, w.scales, bias ?? x.scales, out], {
      m: x.rows, n: w.rows, ldc: nPad, level: l, first: l === levels - 1 ? 1 : 0, hasBias: bias ? 1 : 0,
    }, Math.ceil((x.rows * w.rows) / 256));
  }
  be.free(c);
  return out;
}
