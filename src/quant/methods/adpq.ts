/**
 * AdpQ (Ghaffari et al., 2024, arXiv 2405.13358): zero-shot, calibration-free quantization that
 * separates salient (outlier) weights by the adaptive-LASSO soft threshold and gives them a grid
 * of their own, so the bulk of each group is quantized on a grid fitted to itself.
 *
 * Adaptive LASSO with an identity design (the "data" are the weights) is element-wise soft
 * thresholding with weight-adaptive thresholds:
 *     w_hat_j = sign(w_j) max(|w_j| - lambda / |w_j|^gamma, 0)
 * The weights it sets to zero are the ordinary ones; the survivors, |w_j|^(1+gamma) > lambda, are
 * the salient ones. Following the spec (../shared/papers/adpq.md) and the independent public
 * implementation it cites:
 *  - one lambda per weight matrix, chosen so the salient fraction is `outlierRatio` (alpha). Since
 *    |w|^(1+gamma) is monotone in |w|, that set is the round(alpha * size) largest |w| for every
 *    gamma > -1, found here exactly in O(n) (select.ts) instead of by a root search; gamma only
 *    sets the reported lambda = t^(1+gamma). Because lambda is global, heavy-tailed groups get
 *    many salient weights and quiet ones none: the "adaptive" part.
 *  - per group, the non-salient weights get a b-bit grid fitted to themselves (or RTN's grid of the
 *    whole group, when that rounds them better: this guarantees the spec's check that the bulk is
 *    never worse than RTN on the same entries; on kdoc-6m ~0.3% of groups) and the salient ones
 *    a second b-bit grid fitted to the salient values of that group (same grid kind: asymmetric
 *    min/max with 0 in range, or symmetric with --sym); `outlierBits` 16 keeps salient weights in
 *    f16 instead (SpQR-like).
 *  - codes stay dense (one b-bit code per weight, read through the grid its position belongs to);
 *    salient positions cost min(bitmask, in-group indices + per-group counts) bits; groups without
 *    salient weights store no second grid.
 *
 * Default alpha = 0.05 (the independent implementation uses 0.06-0.08; kdoc-6m's sweep in the
 * README shows the trade-off against the position/grid overhead).
 */
import { f16ToF32, f32ToF16 } from '../../io/float.js';
import { type GridSpec, type Grid, encode, fitGrid, maxCode } from '../grid.js';
import { type GroupGrid, emptyGroupGrid, groupCount, groupGridTensors } from '../group-grid.js';
import { LowbitError } from '../../util/errors.js';
import type { DataFreeMethod, QuantOptions } from '../method.js';
import type { OptionSpecs } from '../../util/options.js';
import { topKByMagnitude } from '../select.js';
import { native } from '../../native/index.js';
import type { BitsBreakdown, FormatParams, QuantizedWeight, StoredTensor, WeightFormat } from '../types.js';

export interface AdpqOptions extends GridSpec {
  groupSize: number;
  /** Fraction of each matrix's weights treated as salient (alpha). */
  outlierRatio: number;
  /** Adaptive-LASSO exponent gamma (weights 1/|w|^gamma); sets the reported lambda only. */
  gamma: number;
  /** Bits of the salient weights' codes: `bits` (own grid per group) or 16 (f16 values). */
  outlierBits: number;
}

export interface AdpqLayout {
  /** Non-salient grids, and the codes of every position (salient ones on the salient grid). */
  grid: GroupGrid;
  /** 1 where the weight is salient. */
  salient: Uint8Array;
  /** Salient grids per (row, group) (scale 0 where a group has none); unused with f16 outliers. */
  salientScales: Float32Array;
  salientZeros: Uint8Array;
  /** Salient values in f16 (row-major order of their positions), with outlierBits = 16. */
  salientValues: Float32Array | null;
  salientCount: number;
  /** The adaptive-LASSO lambda that separates exactly this set, and the magnitude threshold. */
  lambda: number;
  threshold: number;
}

export function adpqQuantize(w: Float32Array, rows: number, cols: number, o: AdpqOptions): AdpqLayout {
  const grid = emptyGroupGrid(rows, cols, o);
  const groups = groupCount(grid);
  const salient = new Uint8Array(rows * cols);
  const k = Math.round(o.outlierRatio * rows * cols);
  const threshold = topKByMagnitude(w, k, salient);
  const salientScales = new Float32Array(rows * groups), salientZeros = new Uint8Array(rows * groups);
  const fp16 = o.outlierBits >= 16;
  if (native && cols > 0)
    native.adpqGroups(w, salient, rows, cols, grid.groupSize, o.bits, o.symmetric, fp16, grid.codes, grid.scales, grid.zeros, salientScales, salientZeros);
  else adpqGroupsTs(w, salient, grid, o, fp16, salientScales, salientZeros);
  let salientValues: Float32Array | null = null;
  if (fp16) {
    // In row-major order of their positions, rounded to f16.
    salientValues = new Float32Array(k);
    for (let i = 0, n = 0; i < salient.length; i++) if (salient[i]) salientValues[n++] = w[i];
    salientValues.set(f16ToF32(f32ToF16(salientValues)));
  }
  return { grid, salient, salientScales, salientZeros, salientValues, salientCount: k, threshold, lambda: k > 0 ? threshold ** (1 + o.gamma) : Infinity };
}

/**
 * Per group, given the salient mask: the bulk grid on the non-salient weights (or RTN's full-range
 * grid when it rounds them better), the salient weights' own grid (unless they stay f16), and every
 * code. The definition src/native/quant.cc's adpq_groups is tested against.
 */
export function adpqGroupsTs(w: Float32Array, salient: Uint8Array, grid: GroupGrid, o: AdpqOptions, fp16: boolean, salientScales: Float32Array, salientZeros: Uint8Array): void {
  const { rows, cols, groupSize: gs } = grid;
  const groups = groupCount(grid), maxq = maxCode(o.bits);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const c0 = r * cols + g * gs, c1 = r * cols + Math.min(cols, (g + 1) * gs);
      // Ranges of the two sets of this group.
      let lo = Infinity, hi = -Infinity, slo = Infinity, shi = -Infinity, ns = 0;
      for (let i = c0; i < c1; i++) {
        const x = w[i];
        if (salient[i]) {
          ns++;
          if (x < slo) slo = x;
          if (x > shi) shi = x;
        } else {
          if (x < lo) lo = x;
          if (x > hi) hi = x;
        }
      }
      let bulk: Grid = ns === c1 - c0 ? fitGrid(0, 0, o) : fitGrid(lo, hi, o);
      if (ns > 0 && ns < c1 - c0) {
        // Keep RTN's full-range grid when it rounds the non-salient weights better: a narrower
        // range shifts the rounding lattice, and in a few groups (where the salient weights barely
        // extend the range) that costs more than the finer step gains.
        const full = fitGrid(Math.min(lo, slo), Math.max(hi, shi), o);
        if (bulkError(w, salient, c0, c1, full, maxq) < bulkError(w, salient, c0, c1, bulk, maxq)) bulk = full;
      }
      grid.scales[r * groups + g] = bulk.scale;
      grid.zeros[r * groups + g] = bulk.zero;
      const out: Grid | null = ns > 0 && !fp16 ? fitGrid(slo, shi, o) : null;
      if (out) {
        salientScales[r * groups + g] = out.scale;
        salientZeros[r * groups + g] = out.zero;
      }
      for (let i = c0; i < c1; i++) {
        if (!salient[i]) grid.codes[i] = encode(w[i], bulk, maxq);
        else if (out) grid.codes[i] = encode(w[i], out, maxq);
      }
    }
  }
}

/** Squared rounding error of the non-salient weights of w[c0:c1] on grid g. */
function bulkError(w: Float32Array, salient: Uint8Array, c0: number, c1: number, g: Grid, maxq: number): number {
  let e = 0;
  for (let i = c0; i < c1; i++) {
    if (salient[i]) continue;
    const d = w[i] - g.scale * (encode(w[i], g, maxq) - g.zero);
    e += d * d;
  }
  return e;
}

/** W_hat of the layout (natively when salient weights have their own grids: src/native/quant.cc). */
export function dequantizeAdpq(l: AdpqLayout, out: Float32Array = new Float32Array(l.grid.rows * l.grid.cols)): Float32Array {
  const { rows, cols, groupSize: gs, codes, scales, zeros } = l.grid;
  if (native && !l.salientValues && cols > 0) {
    native.dequantizeAdpq(codes, l.salient, scales, zeros, l.salientScales, l.salientZeros, rows, cols, gs, out);
    return out;
  }
  return dequantizeAdpqTs(l, out);
}

/** dequantizeAdpq in TypeScript: the definition the native kernel is tested against. */
export function dequantizeAdpqTs(l: AdpqLayout, out: Float32Array = new Float32Array(l.grid.rows * l.grid.cols)): Float32Array {
  const { rows, cols, groupSize: gs, codes, scales, zeros } = l.grid;
  const groups = groupCount(l.grid);
  let nextValue = 0;
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const k = r * groups + g, s = scales[k], z = zeros[k], ss = l.salientScales[k] ?? 0, sz = l.salientZeros[k] ?? 0;
      for (let i = r * cols + g * gs, end = r * cols + Math.min(cols, (g + 1) * gs); i < end; i++) {
        if (!l.salient[i]) out[i] = s * (codes[i] - z);
        else if (l.salientValues) out[i] = l.salientValues[nextValue++];
        else out[i] = ss * (codes[i] - sz);
      }
    }
  }
  return out;
}

/** Salient-position cost: a bitmask, or per group a count plus in-group indices, whichever is smaller. */
export function positionBits(rows: number, cols: number, groupSize: number, salientCount: number): number {
  if (salientCount === 0) return 0;
  const groups = rows * Math.ceil(cols / groupSize);
  const indexBits = Math.ceil(Math.log2(groupSize));
  const countBits = Math.ceil(Math.log2(groupSize + 1));
  return Math.min(rows * cols, salientCount * indexBits + groups * countBits);
}

export function adpqBits(l: AdpqLayout, o: AdpqOptions): BitsBreakdown {
  const { rows, cols, groupSize } = l.grid;
  const groups = groupCount(l.grid);
  const zeroBits = o.symmetric ? 0 : o.bits;
  let salientGroups = 0;
  for (let g = 0; g < rows * groups; g++) if (l.salientScales[g] > 0) salientGroups++;
  return {
    codes: rows * cols * o.bits,
    scales: rows * groups * 16 + salientGroups * 16,
    zeros: rows * groups * zeroBits + salientGroups * zeroBits,
    outliers: positionBits(rows, cols, groupSize, l.salientCount) + (l.salientValues ? 16 * l.salientCount : 0),
    lowRank: 0,
    other: 0,
  };
}

/**
 * Salient positions as per-group counts [rows, groups] and in-group indices (in position order): the
 * cheaper of the two encodings positionBits counts, once bit-packed by the writer. `salientCount`
 * is the number of ones in the mask (natively: src/native/quant.cc salient_positions).
 */
export function positionLists(mask: Uint8Array, rows: number, cols: number, gs: number, salientCount: number): { counts: Int32Array; index: Int32Array } {
  if (!native || cols === 0) return positionListsTs(mask, rows, cols, gs, salientCount);
  const counts = new Int32Array(rows * Math.ceil(cols / gs)), index = new Int32Array(salientCount);
  if (native.salientPositions(mask, rows, cols, gs, counts, index) !== salientCount) throw new Error('salient mask does not hold salientCount positions');
  return { counts, index };
}

/** positionLists in TypeScript: the definition the native kernel is tested against. */
export function positionListsTs(mask: Uint8Array, rows: number, cols: number, gs: number, salientCount: number): { counts: Int32Array; index: Int32Array } {
  const groups = Math.ceil(cols / gs), counts = new Int32Array(rows * groups), index = new Int32Array(salientCount);
  let n = 0;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++)
      if (mask[r * cols + c]) {
        counts[r * groups + Math.floor(c / gs)]++;
        if (n >= salientCount) throw new Error('salient mask holds more than salientCount positions');
        index[n++] = c % gs;
      }
  if (n !== salientCount) throw new Error('salient mask does not hold salientCount positions');
  return { counts, index };
}

function maskFromLists(counts: Int32Array, index: Int32Array, rows: number, cols: number, gs: number): Uint8Array {
  const groups = Math.ceil(cols / gs), mask = new Uint8Array(rows * cols);
  let k = 0;
  for (let r = 0; r < rows; r++)
    for (let g = 0; g < groups; g++)
      for (let n = 0; n < counts[r * groups + g]; n++, k++) {
        const c = g * gs + index[k];
        if (k >= index.length || index[k] >= gs || c >= cols) throw new Error('salient positions do not match their counts');
        mask[r * cols + c] = 1;
      }
  if (k !== index.length) throw new Error('salient positions do not match their counts');
  return mask;
}

/** Packs a 0/1 mask into bits, row by row (LSB first). */
function packMask(mask: Uint8Array, rows: number, cols: number): Uint8Array {
  const stride = Math.ceil(cols / 8), out = new Uint8Array(rows * stride);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (mask[r * cols + c]) out[r * stride + (c >> 3)] |= 1 << (c & 7);
  return out;
}

function unpackMask(packed: Uint8Array, rows: number, cols: number): Uint8Array {
  const stride = Math.ceil(cols / 8), out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = (packed[r * stride + (c >> 3)] >> (c & 7)) & 1;
  return out;
}

export function adpqWeight(l: AdpqLayout, o: AdpqOptions): QuantizedWeight {
  const { rows, cols } = l.grid;
  const groups = groupCount(l.grid);
  const tensors: Record<string, StoredTensor> = { ...groupGridTensors(l.grid) };
  // Positions as positionBits counts them: a bitmask, or per-group counts + in-group indices when smaller.
  if (positionBits(rows, cols, l.grid.groupSize, l.salientCount) < rows * cols) {
    const { counts, index } = positionLists(l.salient, rows, cols, l.grid.groupSize, l.salientCount);
    tensors.salient_count = { dtype: 'I32', shape: [rows, groups], data: counts };
    tensors.salient_index = { dtype: 'I32', shape: [index.length], data: index };
  } else tensors.salient_mask = { dtype: 'U8', shape: [rows, Math.ceil(cols / 8)], data: packMask(l.salient, rows, cols) };
  if (l.salientValues) tensors.salient_values = { dtype: 'F16', shape: [l.salientCount], data: f32ToF16(l.salientValues) };
  else {
    tensors.salient_scales = { dtype: 'F16', shape: [rows, groups], data: f32ToF16(l.salientScales) };
    if (!o.symmetric) tensors.salient_zeros = { dtype: 'U8', shape: [rows, groups], data: l.salientZeros };
  }
  const params: FormatParams = { bits: o.bits, groupSize: l.grid.groupSize, symmetric: o.symmetric, outlierBits: l.salientValues ? 16 : o.bits };
  return {
    format: ADPQ_FORMAT.name, params, rows, cols, tensors,
    bits: adpqBits(l, o),
    dequantize: (out) => dequantizeAdpq(l, out),
    report: { salient: l.salientCount, lambda: l.lambda, threshold: l.threshold },
  };
}

export const ADPQ_FORMAT: WeightFormat = {
  name: 'adpq',
  decode(t, p, rows, cols) {
    const bits = Number(p.bits), gs = Number(p.groupSize), symmetric = p.symmetric === true;
    const grid = emptyGroupGrid(rows, cols, { bits, groupSize: gs, symmetric });
    const groups = groupCount(grid);
    grid.codes = t.codes.data as Uint8Array;
    grid.scales = f16ToF32(t.scales.data as Uint16Array);
    grid.zeros = symmetric ? new Uint8Array(rows * groups).fill(1 << (bits - 1)) : (t.zeros.data as Uint8Array);
    const salient = t.salient_mask ? unpackMask(t.salient_mask.data as Uint8Array, rows, cols)
      : maskFromLists(t.salient_count.data as Int32Array, t.salient_index.data as Int32Array, rows, cols, grid.groupSize);
    let salientCount = 0;
    for (const s of salient) salientCount += s;
    const values = t.salient_values ? f16ToF32(t.salient_values.data as Uint16Array) : null;
    return dequantizeAdpq({
      grid, salient, salientCount, threshold: 0, lambda: 0,
      salientScales: values ? new Float32Array(0) : f16ToF32(t.salient_scales.data as Uint16Array),
      salientZeros: values || symmetric ? new Uint8Array(rows * groups).fill(1 << (bits - 1)) : (t.salient_zeros.data as Uint8Array),
      salientValues: values,
    });
  },
};

/** --outlier-bits is the code width (salient weights on their own grid) or 16 (f16 values). */
function checkedOutlierBits(bits: number, codeBits: number): number {
  if (bits !== codeBits && bits !== 16) throw new LowbitError(`--outlier-bits must be the code width --bits (${codeBits}) or 16, got ${bits}`);
  return bits;
}

export function adpqOptions(o: QuantOptions): AdpqOptions {
  return {
    bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric,
    outlierRatio: Number(o.extra.outlierRatio ?? 0.05), gamma: Number(o.extra.gamma ?? 1), outlierBits: checkedOutlierBits(Number(o.extra.outlierBits ?? o.bits), o.bits),
  };
}

export const ADPQ_OPTIONS = {
  outlierRatio: { type: 'number', description: 'fraction alpha of each matrix kept as salient weights (the adaptive-LASSO survivors)', default: 0.05, min: 0, max: 0.5 },
  gamma: { type: 'number', description: 'adaptive-LASSO exponent gamma; with a target ratio it changes only the reported lambda', default: 1, min: 0.01, max: 10 },
  // No fixed default: unset means "the code width", whatever --bits is.
  outlierBits: { type: 'int', description: 'bits of salient weights: the code width --bits (own grid per group) or 16 (f16 values)', defaultText: 'bits', min: 2, max: 16 },
} as const satisfies OptionSpecs;

export const adpq = {
  name: 'adpq',
  kind: 'data-free',
  summary: 'AdpQ: adaptive-LASSO salient weights on their own grid per group; no data (Ghaffari et al. 2024)',
  options: ADPQ_OPTIONS,
  quantize: (w, rows, cols, o) => {
    const opts = adpqOptions(o);
    return adpqWeight(adpqQuantize(w, rows, cols, opts), opts);
  },
} satisfies DataFreeMethod;
