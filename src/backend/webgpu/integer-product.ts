/**
 * Activation-quantized linears as integer products (kernels/integer-linear.ts has the arithmetic):
 * the weight's per-channel codes kept as int8 on the device, each input quantized per token to
 * int8 codes, one exact i32 product (on the int8 tensor cores where the device has them), and one
 * pass that forms the f32 result.
 */
import { rowsCols, type ActQuantSpec, type Tensor } from '../backend.js';
import type { RowGridWeight } from '../../io/tensor-source.js';
import type { SolverHost } from './solvers.js';
import { INT8_K_STEP, INT8_MATMUL, INT8_TILE } from './kernels/int8-matmul.js';
import { ACT_QUANT_CODES, INTEGER_FINISH, INTEGER_MATMUL } from './kernels/integer-linear.js';

/** What the integer products use of the backend (webgpu-backend.ts). */
export type IntegerHost = Pick<SolverHost, 'output' | 'dispatch' | 'free' | 'uploadWords'>;

/** A weight as integerLinear reads it: the codes offset to int8, and per row (s, beta, B). */
export class IntegerWeight implements Tensor {
  constructor(
    readonly shape: readonly [number, number],
    /** [rowsPad, kPad / 4]: int8 codes q - 2^(bits-1), four to a word, zero-padded for INT8_MATMUL. */
    readonly words: Tensor,
    /** [rows, 3]: the row's scale, beta = 2^(bits-1) - zero, and the sum of its int8 codes. */
    readonly info: Tensor,
  ) {}
}

const padTo = (n: number, m: number) => Math.ceil(n / m) * m;

/** The grid of per-token activation codes: levels qmin..qmax, and the offset that makes them int8. */
export function actLevels(spec: ActQuantSpec): { qmin: number; qmax: number; offset: number } {
  const qmax = spec.symmetric ? 2 ** (spec.bits - 1) - 1 : 2 ** spec.bits - 1;
  return { qmin: spec.symmetric ? -qmax - 1 : 0, qmax, offset: spec.symmetric ? 0 : 2 ** (spec.bits - 1) };
}

export function uploadIntegerWeight(be: IntegerHost, w: RowGridWeight): IntegerWeight {
  if (!(w.bits >= 1 && w.bits <= 8)) throw new Error(`integer weights: ${w.bits} bits (1..8)`);
  const { rows, cols } = w, center = 2 ** (w.bits - 1);
  const rowsPad = padTo(rows, INT8_TILE), kPad = padTo(cols, INT8_K_STEP);
  const bytes = new Int8Array(rowsPad * kPad), info = new Float32Array(rows * 3);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < cols; c++) {
      const b = w.codes[r * cols + c] - center;
      bytes[r * kPad + c] = b;
      sum += b;
    }
    info.set([w.scales[r], center - w.zeros[r], sum], 3 * r);
  }
  return new IntegerWeight([rows, cols], be.uploadWords(new Uint32Array(bytes.buffer), [rowsPad, kPad / 4]), be.uploadWords(info, [rows, 3]));
}

/** Q_a(x) W^T (+ bias) [x.rows, w.rows] with exact integer products; `int8`: the device has INT8_MATMUL. */
export function integerLinear(be: IntegerHost, x: Tensor, w: IntegerWeight, act: ActQuantSpec, int8: boolean, bias?: Tensor): Tensor {
  if (!(act.bits >= 1 && act.bits <= 8)) throw new Error(`integer products: ${act.bits}-bit activations (1..8)`);
  const [rows, k] = rowsCols(x), [n, wk] = w.shape;
  if (wk !== k) throw new Error(`integer linear: input has ${k} features, weight expects ${wk}`);
  const rowsPad = padTo(rows, INT8_TILE), kPad = padTo(k, INT8_K_STEP), nPad = padTo(n, INT8_TILE);
  const { qmin, qmax, offset } = actLevels(act);
  const codes = be.output([rowsPad, kPad / 4]), info = be.output([rows, 3]);
  be.dispatch(ACT_QUANT_CODES, [x, codes, info], {
    rows, d: k, rowsPad, kPad, qmin, qmax, clip: act.clipRatio, symmetric: act.symmetric ? 1 : 0, offset,
  }, rowsPad);
  const c = be.output([rowsPad, nPad]);
  if (int8)
    be.dispatch(INT8_MATMUL, [codes, w.words, c], { k: kPad, lda: kPad / 16, ldb: kPad / 16, offA: 0, offB: 0, ldc: nPad, offC: 0 }, [nPad / INT8_TILE, rowsPad / INT8_TILE]);
  else be.dispatch(INTEGER_MATMUL, [codes, w.words, c], { m: rows, n, words: kPad / 4, ldc: nPad }, [Math.ceil(n / 16), Math.ceil(rows / 16)]);
  be.free(codes);
  const out = be.output([...x.shape.slice(0, -1), n]);
  be.dispatch(INTEGER_FINISH, [c, info, w.info, bias ?? info, out], { m: rows, n, k, ldc: nPad, hasBias: bias ? 1 : 0 }, Math.ceil((rows * n) / 256));
  be.free(c);
  be.free(info);
  return out;
}
