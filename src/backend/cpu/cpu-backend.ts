/**
 * The CPU backend: tensors are host Float32Arrays; GEMM, attention, NLL and SiLU run in the
 * native addon (AVX2+FMA, all cores) when it is built, in TypeScript otherwise. The cheap
 * elementwise ops (norms, RoPE, adds) are plain TypeScript in both cases: they are memory-bound
 * and a small fraction of the forward pass.
 */
import { dims2, rowsCols, type ActQuantSpec, type AttentionShape, type Backend, type CachedAttentionShape, type Tensor } from '../backend.js';
import { rotateRows, type Rotation } from '../../linalg/hadamard.js';
import { native as nativeKernels, type NativeKernels } from '../../native/index.js';
import { gemmReference } from '../../linalg/gemm.js';
import { actQuantTs, attendCachedTs, attentionTs, nllTs, routeTopKTs, siluMulTs } from './ts-kernels.js';

export class CpuTensor implements Tensor {
  constructor(readonly shape: readonly number[], readonly data: Float32Array) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`tensor data has ${data.length} elements, shape [${shape}] needs ${n}`);
  }
}

function cpu(t: Tensor): CpuTensor {
  if (!(t instanceof CpuTensor)) throw new Error('tensor does not belong to the CPU backend');
  return t;
}

export class CpuBackend implements Backend {
  readonly name: string;
  private readonly k: NativeKernels | null;

  /** `kernels: null` forces the TypeScript kernels (tests compare the two). */
  constructor(kernels: NativeKernels | null = nativeKernels) {
    this.k = kernels;
    this.name = kernels ? 'cpu (native)' : 'cpu (typescript)';
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    return new CpuTensor([...shape], data.slice());
  }

  async read(t: Tensor): Promise<Float32Array> {
    return cpu(t).data.slice();
  }

  free(_t: Tensor): void {
    // Host memory is garbage-collected.
  }

  matmul(a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
    const [ar, ac] = dims2(a), [br, bc] = dims2(b);
    const tA = opts.transA ?? false, tB = opts.transB ?? false;
    const m = tA ? ac : ar, k = tA ? ar : ac, n = tB ? br : bc;
    if ((tB ? bc : br) !== k) throw new Error(`matmul: inner dimensions differ ([${a.shape}] x [${b.shape}])`);
    const out = new Float32Array(m * n);
    this.gemm(tA, tB, m, n, k, cpu(a).data, ac, cpu(b).data, bc, out, n);
    return new CpuTensor([m, n], out);
  }

  linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    const [rows, inDim] = rowsCols(x);
    const [outDim, wIn] = dims2(weight);
    if (wIn !== inDim) throw new Error(`linear: input has ${inDim} features, weight expects ${wIn}`);
    const out = new Float32Array(rows * outDim);
    if (bias) {
      const b = cpu(bias).data;
      for (let i = 0; i < rows; i++) out.set(b, i * outDim);
    }
    this.gemm(false, true, rows, outDim, inDim, cpu(x).data, inDim, cpu(weight).data, inDim, out, outDim, bias ? 1 : 0);
    return new CpuTensor([...x.shape.slice(0, -1), outDim], out);
  }

  gram(x: Tensor): Tensor {
    const [n, d] = rowsCols(x);
    const out = new Float32Array(d * d);
    this.gemm(true, false, d, d, n, cpu(x).data, d, cpu(x).data, d, out, d);
    return new CpuTensor([d, d], out);
  }

  add(a: Tensor, b: Tensor): Tensor {
    const [x, y, out] = this.operands(a, b);
    if (this.k) this.k.add(x, y, out, out.length);
    else for (let i = 0; i < out.length; i++) out[i] = x[i] + y[i];
    return new CpuTensor(a.shape, out);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    const [x, y, out] = this.operands(a, b);
    for (let i = 0; i < out.length; i++) out[i] = x[i] * y[i];
    return new CpuTensor(a.shape, out);
  }

  scale(a: Tensor, s: number): Tensor {
    const src = cpu(a).data;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i] * s;
    return new CpuTensor(a.shape, out);
  }

  siluMul(gate: Tensor, up: Tensor): Tensor {
    const g = cpu(gate).data, u = cpu(up).data;
    if (g.length !== u.length) throw new Error('siluMul: shapes differ');
    if (!this.k) return new CpuTensor(gate.shape, siluMulTs(g, u));
    const out = new Float32Array(g.length);
    this.k.siluMul(g, u, out, g.length);
    return new CpuTensor(gate.shape, out);
  }

  relu(x: Tensor): Tensor {
    const src = cpu(x).data, out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i] > 0 ? src[i] : 0;
    return new CpuTensor(x.shape, out);
  }

  routeTopK(logits: Tensor, topK: number): Tensor {
    const [rows, experts] = rowsCols(logits);
    return new CpuTensor(logits.shape, routeTopKTs(cpu(logits).data, rows, experts, topK));
  }

  scaleRows(x: Tensor, weights: Tensor, column: number, indicator = false): Tensor {
    const [rows, d] = rowsCols(x), [wRows, cols] = rowsCols(weights);
    if (wRows !== rows || column < 0 || column >= cols) throw new Error(`scaleRows: weights [${wRows}, ${cols}] column ${column} for ${rows} rows`);
    const src = cpu(x).data, w = cpu(weights).data, out = new Float32Array(src.length);
    for (let i = 0; i < rows; i++) {
      const s = indicator ? (w[i * cols + column] !== 0 ? 1 : 0) : w[i * cols + column];
      for (let j = i * d; j < (i + 1) * d; j++) out[j] = src[j] * s;
    }
    return new CpuTensor(x.shape, out);
  }

  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
    const [rows, d] = rowsCols(x);
    const src = cpu(x).data, w = cpu(weight).data, b = cpu(bias).data;
    if (w.length !== d || b.length !== d) throw new Error(`layerNorm: weight/bias of ${w.length}/${b.length} for rows of ${d}`);
    const out = new Float32Array(src.length);
    for (let i = 0; i < rows; i++) {
      const o = i * d;
      let sum = 0;
      for (let j = 0; j < d; j++) sum += src[o + j];
      const mean = sum / d;
      let ss = 0;
      for (let j = 0; j < d; j++) ss += (src[o + j] - mean) * (src[o + j] - mean);
      const inv = 1 / Math.sqrt(ss / d + eps);
      for (let j = 0; j < d; j++) out[o + j] = (src[o + j] - mean) * inv * w[j] + b[j];
    }
    return new CpuTensor(x.shape, out);
  }

  rowSumSquares(x: Tensor): Tensor {
    const [rows, d] = rowsCols(x);
    const src = cpu(x).data;
    const out = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = i * d; j < (i + 1) * d; j++) s += src[j] * src[j];
      out[i] = s;
    }
    return new CpuTensor([rows], out);
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const [rows, d] = rowsCols(x);
    const src = cpu(x).data, w = cpu(weight).data;
    const out = new Float32Array(src.length);
    if (this.k) {
      this.k.rmsNorm(src, w, out, rows, d, eps);
      return new CpuTensor(x.shape, out);
    }
    for (let i = 0; i < rows; i++) {
      const o = i * d;
      let ss = 0;
      for (let j = 0; j < d; j++) ss += src[o + j] * src[o + j];
      const inv = 1 / Math.sqrt(ss / d + eps);
      for (let j = 0; j < d; j++) out[o + j] = w[j] * (src[o + j] * inv);
    }
    return new CpuTensor(x.shape, out);
  }

  embedding(table: Tensor, ids: Int32Array): Tensor {
    const [vocab, d] = dims2(table);
    const src = cpu(table).data;
    const out = new Float32Array(ids.length * d);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < 0 || id >= vocab) throw new Error(`token id ${id} outside the vocabulary (${vocab})`);
      out.set(src.subarray(id * d, (id + 1) * d), i * d);
    }
    return new CpuTensor([ids.length, d], out);
  }

  rope(x: Tensor, cos: Tensor, sin: Tensor, heads: number, headDim: number): Tensor {
    const [rows, width] = rowsCols(x);
    const [seqLen, half] = dims2(cos);
    if (width !== heads * headDim || half * 2 !== headDim || rows % seqLen !== 0) throw new Error('rope: shape mismatch');
    const src = cpu(x).data, c = cpu(cos).data, s = cpu(sin).data;
    const out = new Float32Array(src.length);
    if (this.k) {
      this.k.rope(src, c, s, out, rows, seqLen, heads, headDim);
      return new CpuTensor(x.shape, out);
    }
    for (let r = 0; r < rows; r++) {
      const p = (r % seqLen) * half;
      for (let h = 0; h < heads; h++) {
        const o = r * width + h * headDim;
        for (let i = 0; i < half; i++) {
          const x1 = src[o + i], x2 = src[o + half + i];
          out[o + i] = x1 * c[p + i] - x2 * s[p + i];
          out[o + half + i] = x2 * c[p + i] + x1 * s[p + i];
        }
      }
    }
    return new CpuTensor(x.shape, out);
  }

  attention(q: Tensor, k: Tensor, v: Tensor, s: AttentionShape): Tensor {
    const qd = cpu(q).data, kd = cpu(k).data, vd = cpu(v).data;
    const rows = s.batch * s.seqLen;
    if (qd.length !== rows * s.heads * s.headDim || kd.length !== rows * s.kvHeads * s.headDim || vd.length !== kd.length)
      throw new Error('attention: q/k/v sizes disagree with the attention shape');
    if (!this.k) return new CpuTensor([rows, s.heads * s.headDim], attentionTs(qd, kd, vd, s));
    const out = new Float32Array(qd.length);
    this.k.attention(qd, kd, vd, out, s.batch, s.seqLen, s.heads, s.kvHeads, s.headDim, 1 / Math.sqrt(s.headDim), s.window ?? 0);
    return new CpuTensor([rows, s.heads * s.headDim], out);
  }

  attendCached(q: Tensor, k: Tensor, v: Tensor, s: CachedAttentionShape): Tensor {
    const qd = cpu(q).data, kd = cpu(k).data, vd = cpu(v).data;
    const n = qd.length / (s.heads * s.headDim);
    if (!Number.isInteger(n) || kd.length !== (s.past + n) * s.kvHeads * s.headDim || vd.length !== kd.length)
      throw new Error('attendCached: q/k/v sizes disagree with the attention shape');
    return new CpuTensor([n, s.heads * s.headDim], attendCachedTs(qd, kd, vd, s));
  }

  concatRows(a: Tensor, b: Tensor): Tensor {
    const [n, d] = rowsCols(a), [m, d2] = rowsCols(b);
    if (d !== d2) throw new Error(`concatRows: widths ${d} and ${d2} differ`);
    const out = new Float32Array((n + m) * d);
    out.set(cpu(a).data);
    out.set(cpu(b).data, n * d);
    return new CpuTensor([n + m, d], out);
  }

  nll(logits: Tensor, targets: Int32Array): Tensor {
    const [rows, vocab] = rowsCols(logits);
    if (rows !== targets.length) throw new Error(`nll: ${rows} rows of logits for ${targets.length} targets`);
    for (const t of targets) if (t < 0 || t >= vocab) throw new Error(`nll: target ${t} outside the vocabulary (${vocab})`);
    const data = cpu(logits).data;
    if (!this.k) return new CpuTensor([rows], nllTs(data, vocab, targets));
    const out = new Float32Array(rows);
    this.k.nllRows(data, rows, vocab, targets, out);
    return new CpuTensor([rows], out);
  }

  actQuant(x: Tensor, spec: ActQuantSpec): Tensor {
    const [rows, width] = rowsCols(x);
    if (!this.k) return new CpuTensor(x.shape, actQuantTs(cpu(x).data, width, spec));
    const out = new Float32Array(rows * width);
    this.k.actQuant(cpu(x).data, out, rows, width, spec.bits, spec.clipRatio, spec.symmetric);
    return new CpuTensor(x.shape, out);
  }

  rotate(x: Tensor, r: Rotation): Tensor {
    const [rows, width] = rowsCols(x);
    if (width !== r.size) throw new Error(`rotate: rows of ${width} features, rotation of size ${r.size}`);
    const out = cpu(x).data.slice();
    rotateRows(out, rows, r);
    return new CpuTensor(x.shape, out);
  }

  private gemm(tA: boolean, tB: boolean, m: number, n: number, k: number, a: Float32Array, lda: number,
    b: Float32Array, ldb: number, c: Float32Array, ldc: number, beta = 0): void {
    if (this.k) this.k.sgemm(tA, tB, m, n, k, 1, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
    else gemmReference({ m, n, k, transA: tA, transB: tB, beta }, { data: a, ld: lda }, { data: b, ld: ldb }, { data: c, ld: ldc });
  }

  /** Data of two same-sized tensors and a fresh output array. */
  private operands(a: Tensor, b: Tensor): [Float32Array, Float32Array, Float32Array] {
    const x = cpu(a).data, y = cpu(b).data;
    if (x.length !== y.length) throw new Error(`shapes differ: [${a.shape}] vs [${b.shape}]`);
    return [x, y, new Float32Array(x.length)];
  }
}
