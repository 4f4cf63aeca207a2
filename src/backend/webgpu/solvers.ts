/**
 * The solvers' operations (backend/solvers.ts) on the WebGPU backend. Products go to the general
 * GEMM kernels; the Cholesky factorization and the triangular inverse are blocked so that all but
 * O(n^2 NB) of their work is in those products:
 *
 *   Cholesky, for each diagonal block k (NB = 32 columns):  A11 = L11 L11^T (one workgroup),
 *     L21 = A21 L11^-T (a product with the inverse CHOL_DIAG also writes),  A22 -= L21 L21^T;
 *   inverse of L, by halves:  [L11 0; L21 L22]^-1 = [X11 0; -X22 L21 X11  X22],
 *     X11 and X22 recursively, down to the NB blocks CHOL_DIAG inverted.
 *
 * WebGPU forbids a buffer bound for writing and reading in one dispatch, so products whose result
 * lands in a matrix they read go to a scratch tensor first and are copied into place.
 */
import type { Tensor } from '../backend.js';
import type { CoordinateSweep, CoordinateTerms, DeviceGemmShape, DeviceSolvers, GroupGridShape, GroupGridSweep, View } from '../solvers.js';
import { GEMM, TILE } from './kernels/matmul.js';
import { ADD_SCALED, CHOL_DIAG, COPY_VIEW, DIAGONAL, DIFFERENCE_DOT, DOT_FINISH, DOT_PARTIALS, NB, PERMUTE, REVERSE_ADD, SCALE_COLUMNS, SYMMETRIZE } from './kernels/linalg.js';
import { GROUP_GRID_SWEEP, SWEEP_BLOCK, SWEEP_ROWS } from './kernels/group-grid-sweep.js';
import { GROUP_GRID_FIT } from './kernels/group-grid-fit.js';
import { COORDINATE_SWEEP } from './kernels/coordinate-sweep.js';
import type { Kernel, ParamValues } from './kernels/kernel.js';

/** What the solvers use of the backend (webgpu-backend.ts). */
export interface SolverHost {
  output(shape: readonly number[]): Tensor;
  zeros(shape: readonly number[]): Tensor;
  uploadWords(data: Float32Array | Uint32Array, shape: readonly number[]): Tensor;
  copyTensor(t: Tensor): Tensor;
  dispatch(kernel: Kernel, buffers: Tensor[], params: ParamValues, groups: number | [number, number]): void;
  read(t: Tensor): Promise<Float32Array>;
  free(t: Tensor): void;
}

export class WebGpuSolvers implements DeviceSolvers {
  readonly columnBlock = SWEEP_BLOCK;

  constructor(private readonly be: SolverHost) {}

  zeros(shape: readonly number[]): Tensor {
    return this.be.zeros(shape);
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    return this.be.uploadWords(data, shape);
  }

  free(t: Tensor): void {
    this.be.free(t);
  }

  read(t: Tensor): Promise<Float32Array> {
    return this.be.read(t);
  }

  async diagonal(h: Tensor): Promise<Float32Array> {
    const n = h.shape[0];
    const out = this.be.output([n]);
    this.be.dispatch(DIAGONAL, [h, out], { n }, Math.ceil(n / 256));
    const d = await this.be.read(out);
    this.be.free(out);
    return d;
  }

  copy(t: Tensor): Tensor {
    return this.be.copyTensor(t);
  }

  permute(t: Tensor, rows: Int32Array | null, cols: Int32Array | null): Tensor {
    const [m, n] = t.shape;
    const out = this.be.output([m, n]);
    const index = (p: Int32Array | null) => this.be.uploadWords(p ? new Uint32Array(p.buffer, p.byteOffset, p.length) : new Uint32Array(1), [p?.length ?? 1]);
    const [ri, ci] = [index(rows), index(cols)];
    this.be.dispatch(PERMUTE, [t, ri, ci, out], { m, n, permuteRows: rows ? 1 : 0, permuteCols: cols ? 1 : 0 }, Math.ceil((m * n) / 256));
    this.be.free(ri);
    this.be.free(ci);
    return out;
  }

  addScaled(y: Tensor, alpha: number, x: Tensor): void {
    const n = y.shape.reduce((a, b) => a * b, 1);
    if (x.shape.reduce((a, b) => a * b, 1) !== n) throw new Error(`addScaled: [${x.shape}] into [${y.shape}]`);
    this.be.dispatch(ADD_SCALED, [x, y], { n, alpha }, Math.ceil(n / 256));
  }

  scaleColumns(w: Tensor, s: Float32Array): void {
    const [rows, cols] = w.shape;
    const st = this.be.uploadWords(s, [cols]);
    this.be.dispatch(SCALE_COLUMNS, [st, w], { rows, cols }, Math.ceil((rows * cols) / 256));
    this.be.free(st);
  }

  symmetrize(h: Tensor): void {
    const n = h.shape[0];
    this.be.dispatch(SYMMETRIZE, [h], { n }, Math.ceil((n * n) / 256));
  }

  gemm(c: View, a: View, b: View, s: DeviceGemmShape): void {
    if (c.tensor === a.tensor || c.tensor === b.tensor) throw new Error('gemm: the result may not share a tensor with an operand');
    this.be.dispatch(GEMM[s.transA ? 't' : 'n'][s.transB ? 't' : 'n'], [a.tensor, b.tensor, c.tensor], {
      m: s.m, n: s.n, k: s.k, lda: a.ld, ldb: b.ld, ldc: c.ld, offA: a.offset, offB: b.offset, offC: c.offset, alpha: s.alpha ?? 1, beta: s.beta ?? 0, upper: s.upperOnly ? 1 : 0,
    }, [Math.ceil(s.n / TILE), Math.ceil(s.m / TILE)]);
  }

  async inverseCholeskyUpper(h: Tensor, add: Float32Array): Promise<Tensor | null> {
    const n = h.shape[0];
    const at = (t: Tensor, r: number, c: number): View => ({ tensor: t, offset: r * n + c, ld: n });
    const addT = this.be.uploadWords(add, [n]);
    const a = this.be.output([n, n]); // J (H + diag(add)) J, then L in its lower triangle
    this.be.dispatch(REVERSE_ADD, [h, addT, a], { n, hasAdd: 1 }, Math.ceil((n * n) / 256));
    this.be.free(addT);
    const x = this.be.zeros([n, n]); // L^-1
    const status = this.be.zeros([4]);
    const panel = this.be.output([Math.max(1, n - NB), NB]);
    for (let k0 = 0; k0 < n; k0 += NB) {
      const nb = Math.min(NB, n - k0), k1 = k0 + nb, rest = n - k1;
      this.be.dispatch(CHOL_DIAG, [a, x, status], { n, k0, nb }, 1);
      if (rest === 0) break;
      // L21 = A21 L11^-T, into the panel, then A22 -= L21 L21^T and L21 into place.
      this.gemm({ tensor: panel, offset: 0, ld: NB }, at(a, k1, k0), at(x, k0, k0), { m: rest, n: nb, k: nb, transB: true, alpha: 1, beta: 0 });
      this.gemm(at(a, k1, k1), { tensor: panel, offset: 0, ld: NB }, { tensor: panel, offset: 0, ld: NB }, { m: rest, n: rest, k: nb, transB: true, alpha: -1, beta: 1 });
      this.be.dispatch(COPY_VIEW, [panel, a], { m: rest, n: nb, offSrc: 0, ldSrc: NB, offDst: k1 * n + k0, ldDst: n }, Math.ceil((rest * nb) / 256));
    }
    this.be.free(panel);
    const failed = new Uint32Array((await this.be.read(status)).buffer)[0] !== 0;
    this.be.free(status);
    if (failed) {
      this.be.free(a);
      this.be.free(x);
      return null;
    }
    const half = Math.ceil(n / 2);
    const t1 = this.be.output([half * half]), t2 = this.be.output([half * half]);
    const invert = (p: number, q: number): void => {
      if (q - p <= NB) return;
      const mid = p + Math.ceil((q - p) / 2 / NB) * NB, lo = q - mid, hi = mid - p;
      invert(p, mid);
      invert(mid, q);
      // X21 = -X22 (L21 X11)
      this.gemm({ tensor: t1, offset: 0, ld: hi }, at(a, mid, p), at(x, p, p), { m: lo, n: hi, k: hi, alpha: 1, beta: 0 });
      this.gemm({ tensor: t2, offset: 0, ld: hi }, at(x, mid, mid), { tensor: t1, offset: 0, ld: hi }, { m: lo, n: hi, k: lo, alpha: -1, beta: 0 });
      this.be.dispatch(COPY_VIEW, [t2, x], { m: lo, n: hi, offSrc: 0, ldSrc: hi, offDst: mid * n + p, ldDst: n }, Math.ceil((lo * hi) / 256));
    };
    invert(0, n);
    this.be.free(t1);
    this.be.free(t2);
    this.be.free(a);
    const u = this.be.output([n, n]);
    this.be.dispatch(REVERSE_ADD, [x, x, u], { n, hasAdd: 0 }, Math.ceil((n * n) / 256));
    this.be.free(x);
    return u;
  }

  groupGridSweep(w: Tensor, spec: GroupGridShape): GroupGridSweep {
    const [rows, cols] = w.shape;
    const be = this.be;
    const grid = this.gridTensors(rows, cols, spec);
    let unused: [Tensor, Tensor] | undefined;
    return {
      columns: (i1, n, feedback) => {
        checkBlock(i1, n);
        // Without feedback U and E are not read: small stand-ins (W itself may not be bound twice).
        const [u, errors] = feedback ? [feedback.u, feedback.errors] : (unused ??= [be.zeros([4]), be.zeros([4])]);
        be.dispatch(GROUP_GRID_SWEEP, [w, u, errors, grid.codes, grid.scales, grid.zeros], { ...grid.params, i1, count: n, feedback: feedback ? 1 : 0 }, Math.ceil(rows / SWEEP_ROWS));
      },
      read: () => grid.read(),
      free: () => { grid.free(); (unused ?? []).forEach((t) => be.free(t)); },
    };
  }

  coordinateSweep(wHat: Tensor, fitTo: Tensor, terms: CoordinateTerms, spec: GroupGridShape): CoordinateSweep {
    const [rows, cols] = wHat.shape;
    const grid = this.gridTensors(rows, cols, spec);
    this.be.dispatch(GROUP_GRID_FIT, [fitTo, grid.scales, grid.zeros], grid.params, Math.ceil((rows * grid.params.groups) / 256));
    return {
      columns: (i1, n, relaxed) => {
        checkBlock(i1, n);
        this.be.dispatch(COORDINATE_SWEEP, [wHat, terms.p, terms.r, terms.s, terms.delta, grid.codes, grid.scales, grid.zeros],
          { ...grid.params, i1, count: n, relaxed: relaxed ? 1 : 0 }, Math.ceil(rows / SWEEP_ROWS));
      },
      read: () => grid.read(),
      free: () => grid.free(),
    };
  }

  differenceDot(out: Tensor, slot: number, a: Tensor, b: Tensor | null, c: Tensor, d: Tensor | null): void {
    const partial = this.be.output([DOT_PARTIALS]);
    // An absent operand is not read: the present one stands in (read-only bindings may repeat).
    this.be.dispatch(DIFFERENCE_DOT, [a, b ?? a, c, d ?? c, partial], { n: a.shape.reduce((x, y) => x * y, 1), hasB: b ? 1 : 0, hasD: d ? 1 : 0 }, [DOT_PARTIALS, 1]);
    this.be.dispatch(DOT_FINISH, [partial, out], { slot }, 1);
    this.be.free(partial);
  }

  /** Codes (four to a u32 word), scales and zero points of group grids for [rows, cols], with the kernels' grid parameters and their reading. */
  private gridTensors(rows: number, cols: number, spec: GroupGridShape) {
    const be = this.be;
    const groups = Math.ceil(cols / spec.groupSize), words = Math.ceil(cols / 4);
    const codes = be.output([rows, words]), scales = be.zeros([rows, groups]), zeros = be.zeros([rows, groups]);
    return {
      codes, scales, zeros,
      params: { rows, cols, groupSize: spec.groupSize, groups, words, maxq: 2 ** spec.bits - 1, symmetric: spec.symmetric ? 1 : 0, half: 2 ** (spec.bits - 1) },
      read: async () => {
        const packed = new Uint8Array((await be.read(codes)).buffer);
        const out = new Uint8Array(rows * cols);
        for (let r = 0; r < rows; r++) out.set(packed.subarray(r * words * 4, r * words * 4 + cols), r * cols);
        const z = new Uint32Array((await be.read(zeros)).buffer);
        return { codes: out, scales: await be.read(scales), zeros: Uint8Array.from(z) };
      },
      free: () => [codes, scales, zeros].forEach((t) => be.free(t)),
    };
  }
}

function checkBlock(i1: number, n: number): void {
  if (i1 % SWEEP_BLOCK !== 0 || n > SWEEP_BLOCK) throw new Error(`sweep: columns ${i1}+${n} are not one block of ${SWEEP_BLOCK}`);
}
