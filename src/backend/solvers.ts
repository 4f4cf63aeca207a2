/**
 * What the quantizers' solvers need of a backend to run where the calibration data already is (a
 * GPU): dense linear algebra on views of device matrices, and the column sweeps of lowbit's group
 * grids (GPTQ's, QuantEase's). A method that can use it (quant/methods/gptq.ts `gptqOnDevice`,
 * quant/methods/quantease.ts `quanteaseOnDevice`) writes its
 * algorithm once against this interface, next to its host version, and the calibrated pipeline
 * hands it the layer's weight and Hessian as tensors when the backend offers `solvers`.
 *
 * Matrices are f32 tensors, row-major. Tensors holding integers (codes, zero points) hold u32 words:
 * read them with `Backend.read` and view the result's buffer as a Uint32Array.
 */
import type { Tensor } from './backend.js';
import type { GemmShape } from '../linalg/gemm.js';

/** A matrix inside a tensor: element (r, c) is tensor[offset + r * ld + c]. */
export interface View {
  tensor: Tensor;
  offset: number;
  ld: number;
}

/** A whole row-major tensor as a View: its rows one after another, the last dimension their length. */
export function matrixView(t: Tensor): View {
  return { tensor: t, offset: 0, ld: t.shape[t.shape.length - 1] };
}

/** C = alpha op(A) op(B) + beta C (linalg/gemm.ts's shape: alpha 1 and beta 0 unless given). */
export interface DeviceGemmShape extends GemmShape {
  /**
   * For a symmetric result (m = n, C = A^T A and the like): only tiles that reach the upper
   * triangle are computed, the rest of C is left as it is (`symmetrize` fills it afterwards).
   */
  upperOnly?: boolean;
}

/** What a sweep chose, on the host: codes [rows, cols] (stored order of the sweep), scales and zero points [rows, groups]. */
export interface GroupGridCodes {
  codes: Uint8Array;
  scales: Float32Array;
  zeros: Uint8Array;
}

/** A group-grid quantization of W [rows, cols] in progress on the device (see `columns`). */
export interface GroupGridSweep {
  /**
   * Quantizes columns i1..i1+count of W (count at most `DeviceSolvers.columnBlock`, i1 a multiple of
   * it) in order, in place: each becomes the value its code decodes to. With `feedback`, GPTQ's
   * error feedback inside the block through the inverse-Hessian factor U [cols, cols] (upper), and
   * the block's scaled errors in `feedback.errors` ([rows, columnBlock]) for the lazy update.
   */
  columns(i1: number, count: number, feedback: { u: Tensor; errors: Tensor } | null): void;
  /** The codes, scales and zero points chosen so far. */
  read(): Promise<GroupGridCodes>;
  /** Releases the sweep's device buffers (not W). */
  free(): void;
}

/**
 * QuantEase's coordinate descent on lowbit's group grids (quant/methods/quantease.ts) in progress on
 * the device: W_hat [rows, cols] is changed in place, on grids fitted once when it started.
 */
export interface CoordinateSweep {
  /**
   * One coordinate pass over columns i1..i1+count (one block, as GroupGridSweep.columns): column j
   * becomes beta_j = (P_j - R_j + W_hat_j S_jj) / S_jj rounded onto its group's grid (beta_j itself
   * when `relaxed`; a dead input, S_jj = 0, is just rounded), with R = W_hat S as it was before the
   * block and kept exact inside it. The block's changes go to `delta` [rows, columnBlock]: the caller
   * brings R up to date (R += delta S[i1:i1+count, :]) before the next block.
   */
  columns(i1: number, count: number, relaxed: boolean): void;
  /** The codes of the last pass, and the grids. */
  read(): Promise<GroupGridCodes>;
  /** Releases the sweep's device buffers (not the caller's tensors). */
  free(): void;
}

/** The matrices a CoordinateSweep reads and writes besides W_hat (all the caller's). */
export interface CoordinateTerms {
  /** P = W S [rows, cols] for the target W. */
  p: Tensor;
  /** R = W_hat S [rows, cols], as of the start of each block. */
  r: Tensor;
  /** S = X X^T [cols, cols] (the Hessian). */
  s: Tensor;
  /** [rows, columnBlock]: each block's changes of W_hat. */
  delta: Tensor;
}

export interface DeviceSolvers {
  /** Columns of one sweep block (GPTQ's lazy-update block on this device). */
  readonly columnBlock: number;
  /** A new tensor of zeros. */
  zeros(shape: readonly number[]): Tensor;
  /** A new tensor holding host data (Backend.upload). */
  upload(data: Float32Array, shape: readonly number[]): Tensor;
  /** Releases a tensor (Backend.free). */
  free(t: Tensor): void;
  /** A tensor's contents on the host (Backend.read). */
  read(t: Tensor): Promise<Float32Array>;
  /** The diagonal of a square matrix. */
  diagonal(h: Tensor): Promise<Float32Array>;
  /** A new tensor with t's contents. */
  copy(t: Tensor): Tensor;
  /** A new [m, n] tensor with out[i, j] = t[rows[i], cols[j]] (null: that dimension in its order). */
  permute(t: Tensor, rows: Int32Array | null, cols: Int32Array | null): Tensor;
  /** y += alpha x (tensors of one size), in place. */
  addScaled(y: Tensor, alpha: number, x: Tensor): void;
  /** w[:, c] *= s[c], in place. */
  scaleColumns(w: Tensor, s: Float32Array): void;
  /** Copies the upper triangle of a square matrix onto its lower triangle, in place. */
  symmetrize(h: Tensor): void;
  /** C = alpha op(A) op(B) + beta C on views (C may not share a tensor with A or B). */
  gemm(c: View, a: View, b: View, shape: DeviceGemmShape): void;
  /**
   * The upper-triangular U with (H + diag(add))^-1 = U^T U for a symmetric H [n, n], or null when
   * H + diag(add) is not numerically positive definite (f32). Computed as linalg/hessian.ts's
   * inverseCholeskyUpper does: U = J L^-1 J for J (H + diag(add)) J = L L^T, J the reversal.
   */
  inverseCholeskyUpper(h: Tensor, add: Float32Array): Promise<Tensor | null>;
  /** Starts quantizing W [rows, cols] (modified in place) on group grids (quant/group-grid.ts; groupSize the effective one). */
  groupGridSweep(w: Tensor, spec: GroupGridShape): GroupGridSweep;
  /** Starts QuantEase's coordinate descent on W_hat (modified in place), its grids fitted now to `fitTo`'s groups ([rows, cols]). */
  coordinateSweep(wHat: Tensor, fitTo: Tensor, terms: CoordinateTerms, spec: GroupGridShape): CoordinateSweep;
  /** out[slot] = sum_i (a_i - b_i)(c_i - d_i) over tensors of one size (a null b or d counts as zeros), computed in place on the device. */
  differenceDot(out: Tensor, slot: number, a: Tensor, b: Tensor | null, c: Tensor, d: Tensor | null): void;
}

/** Which group grids a sweep quantizes onto (groupSize the effective one: at most the columns). */
export interface GroupGridShape {
  bits: number;
  symmetric: boolean;
  groupSize: number;
}
