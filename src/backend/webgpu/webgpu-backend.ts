/**
 * The WebGPU backend: tensors are f32 storage buffers on the GPU and every Backend operation is a
 * WGSL kernel (src/backend/webgpu/kernels/), so a forward pass issues no host round trips until
 * `read`. It runs wherever WebGPU does: Dawn in Node (the `webgpu` package, on Vulkan, Metal or
 * D3D12, or SwiftShader's CPU Vulkan in CI) and, later, a browser's navigator.gpu.
 *
 * Commands are recorded into one open command encoder and submitted when a result is read, data
 * is uploaded, or many dispatches are pending. Freed buffers return to a pool of equal sizes and
 * are reused by later outputs: commands run in queue order, so a reuse never overtakes a pending
 * read of the old contents. Uploads and kernel parameters use fresh buffers mapped at creation,
 * which no earlier command can see.
 */
import { dims2, rowsCols, type ActQuantSpec, type AttentionShape, type Backend, type CachedAttentionShape, type Tensor } from '../backend.js';
import { rotateRows, type Rotation } from '../../linalg/hadamard.js';
import { LowbitError } from '../../util/errors.js';
import { grid, kernelSource, packParams, paramBytes, type Kernel, type ParamValues } from './kernels/kernel.js';
import { MATMUL, MATMUL_HALF_WEIGHT, TILE } from './kernels/matmul.js';
import { INT8_TILE } from './kernels/int8-matmul.js';
import { freeSplit, splitProduct, splitRows, type SplitOperand } from './split-product.js';
import type { HalfWeights, RowGridWeight } from '../../io/tensor-source.js';
import { IntegerWeight, actLevels, integerLinear, uploadIntegerWeight } from './integer-product.js';
import { ADD, ELEMENTWISE_GROUP, MUL, RELU, SCALE, SCALE_ROWS, SILU_MUL, WIDEN_HALF } from './kernels/elementwise.js';
import { ACT_QUANT, LAYER_NORM, NLL, RMS_NORM, ROUTE_TOP_K, ROW_SUM_SQUARES } from './kernels/rows.js';
import { EMBEDDING, ROPE } from './kernels/positions.js';
import { ATTENTION, ATTENTION_TILED, MAX_HEAD_DIM, TILED_MAX_HEAD_DIM, TILE_QUERIES } from './kernels/attention.js';
import { WebGpuSolvers } from './solvers.js';
import type { DeviceSolvers } from '../solvers.js';

export class GpuTensor implements Tensor {
  constructor(
    readonly shape: readonly number[], readonly buffer: GPUBuffer, readonly owner: WebGpuBackend,
    /** A 16-bit float weight (uploadHalf): two to a u32 word; only `linear` reads it. */
    readonly half?: HalfWeights['format'],
  ) {}
  get length(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

/** Dispatches recorded before the encoder is submitted on its own. */
const MAX_PENDING_DISPATCHES = 512;
/** Bytes of a dispatch's parameter slot (WebGPU's minimum uniform-offset alignment). */
const UNIFORM_SLOT = 256;
/** Uploads between submits (each submit lets Dawn release the host copies of what was uploaded). */
const UPLOAD_BYTES_PER_SUBMIT = 256 * 2 ** 20;
/** Slices of each operand (and levels kept) for products on the int8 tensor cores: see `products`. */
const SLICES = 3;
/** Bytes of freed buffers kept for reuse (a 7B block's forward at 4096 tokens frees ~1.5 GB a pass). */
const POOL_BYTES = 4 * 2 ** 30;

export class WebGpuBackend implements Backend {
  readonly name: string;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<GPUComputePipeline, GPUBindGroupLayout>();
  /** The kernel parameters of the dispatches recorded since the last submit: a slot each (host copy, and the buffer it is written to). */
  private readonly uniformData = new ArrayBuffer(MAX_PENDING_DISPATCHES * UNIFORM_SLOT);
  private uniforms: GPUBuffer | null = null;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  /** Buffers to destroy once the GPU has run the commands recorded so far (kernel parameters, token ids, buffers the pool has no room for). */
  private afterSubmit: GPUBuffer[] = [];
  private readonly pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private readonly empty: GPUBuffer;
  private readonly rotations = new WeakMap<Rotation, GpuTensor>();
  private error: string | null = null;
  /** The solvers' linear algebra and column sweeps (GPTQ, QuantEase) on this GPU (solvers.ts). */
  readonly solvers: DeviceSolvers = new WebGpuSolvers(this);

  /**
   * `description`: the adapter, for reports. `instance` is the GPU object the device came from:
   * held so that it lives as long as the device (Dawn tears the device down when its instance
   * is garbage-collected, and the next submit crashes).
   */
  constructor(readonly device: GPUDevice, description: string, readonly instance: GPU,
    /** The device has int8 subgroup matrices (kernels/int8-matmul.ts can run). */
    readonly int8 = false) {
    this.products = int8 ? 'int8-slices' : 'f32';
    this.name = `webgpu (${description})`;
    this.empty = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    device.addEventListener('uncapturederror', (e) => {
      this.error ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`tensor data has ${data.length} elements, shape [${shape}] needs ${n}`);
    return new GpuTensor([...shape], this.uploadBuffer(data), this);
  }

  uploadHalf(half: HalfWeights, shape: readonly number[]): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== half.bits.length) throw new Error(`tensor data has ${half.bits.length} elements, shape [${shape}] needs ${n}`);
    // Element 2i is the low half of word i, 2i + 1 the high half (little-endian), as the kernel unpacks them.
    const { bits } = half;
    let words: Uint32Array;
    if (n % 2 === 0 && bits.byteOffset % 4 === 0) words = new Uint32Array(bits.buffer, bits.byteOffset, n / 2); // already so laid out
    else new Uint16Array((words = new Uint32Array(Math.ceil(n / 2))).buffer, 0, n).set(bits);
    return new GpuTensor([...shape], this.uploadBuffer(words), this, half.format);
  }

  uploadWidened(half: HalfWeights, shape: readonly number[]): Tensor {
    const packed = this.uploadHalf(half, shape);
    const out = this.output(shape);
    this.dispatch(WIDEN_HALF[half.format], [packed, out], { n: out.length }, Math.ceil(out.length / ELEMENTWISE_GROUP));
    this.free(packed);
    return out;
  }

  async read(t: Tensor): Promise<Float32Array> {
    const src = this.gpu(t);
    const bytes = src.length * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    if (bytes > 0) this.copyEncoder().copyBufferToBuffer(src.buffer, 0, staging, 0, bytes);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    staging.unmap();
    staging.destroy();
    this.throwIfFailed();
    return out;
  }

  free(t: Tensor): void {
    if (t instanceof IntegerWeight) {
      this.free(t.words);
      this.free(t.info);
      return;
    }
    const slices = this.weightSlices.get(t);
    if (slices) {
      this.weightSlices.delete(t);
      freeSplit(this, slices);
    }
    const g = this.gpu(t, true); // 16-bit weights too
    const size = g.buffer.size;
    if (size > POOL_BYTES) {
      this.afterSubmit.push(g.buffer);
      return;
    }
    // Least recently freed sizes leave first: a pool that kept what it held and turned the newest
    // away stayed full of one phase's sizes (the solvers' 11008^2 matrices) while the next phase
    // created and zero-filled its buffers anew at every call (x W^T 4096 -> 11008 ran 20-50% slower).
    for (const [oldSize, list] of this.pool) {
      if (this.pooledBytes + size <= POOL_BYTES) break;
      while (list.length && this.pooledBytes + size > POOL_BYTES) {
        this.afterSubmit.push(list.pop()!);
        this.pooledBytes -= oldSize;
      }
      if (!list.length) this.pool.delete(oldSize);
    }
    const list = this.pool.get(size) ?? [];
    this.pool.delete(size); // re-inserted: the most recently freed size
    list.push(g.buffer);
    this.pool.set(size, list);
    this.pooledBytes += size;
  }

  /** Completion of the work submitted at the previous sync: one batch may run while the next is recorded. */
  private previousSync: Promise<unknown> = Promise.resolve();

  async sync(): Promise<void> {
    this.flush();
    const done = this.device.queue.onSubmittedWorkDone();
    await this.previousSync;
    this.previousSync = done;
    this.throwIfFailed();
  }

  /** Submits what is recorded and releases the device. */
  dispose(): void {
    this.flush();
    this.device.destroy();
  }

  matmul(a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
    const [ar, ac] = dims2(a), [br, bc] = dims2(b);
    const tA = opts.transA ?? false, tB = opts.transB ?? false;
    const m = tA ? ac : ar, k = tA ? ar : ac, n = tB ? br : bc;
    if ((tB ? bc : br) !== k) throw new Error(`matmul: inner dimensions differ ([${a.shape}] x [${b.shape}])`);
    return this.product(a, ac, tA, b, bc, tB, m, n, k, undefined, [m, n]);
  }

  /**
   * How linear multiplies an f32 weight: 'f32' (the f32 kernel, matmul.ts), or 'int8-slices' (on
   * the int8 tensor cores by exact slices, split-product.ts: three slices each, RMS error ~5e-5 of
   * the result against f64 where the f32 kernel's is ~1e-6 and fp16's ~5e-4; 1.7x the f32 kernel's
   * rate on the H100). Only where the device has int8 subgroup matrices (`int8`), for 128 rows or
   * more, and there the default; a weight's slices are kept until it is freed.
   */
  products: 'f32' | 'int8-slices';
  private readonly weightSlices = new Map<Tensor, SplitOperand>();

  linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
    const [rows, inDim] = rowsCols(x);
    const [outDim, wIn] = dims2(weight);
    if (wIn !== inDim) throw new Error(`linear: input has ${inDim} features, weight expects ${wIn}`);
    if (this.products === 'int8-slices' && this.int8 && rows >= INT8_TILE && !this.gpu(weight, true).half) {
      let ws = this.weightSlices.get(weight);
      if (!ws) this.weightSlices.set(weight, (ws = splitRows(this, weight, SLICES, true)));
      const xs = splitRows(this, x, SLICES, false);
      const y = splitProduct(this, xs, ws, SLICES, bias, [...x.shape.slice(0, -1), outDim]);
      freeSplit(this, xs);
      return y;
    }
    return this.product(x, inDim, false, weight, inDim, true, rows, outDim, inDim, bias, [...x.shape.slice(0, -1), outDim], this.gpu(weight, true).half);
  }

  gram(x: Tensor): Tensor {
    const [n, d] = rowsCols(x);
    return this.product(x, d, true, x, d, false, d, d, n, undefined, [d, d]);
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.elementwise(ADD, a, b);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return this.elementwise(MUL, a, b);
  }

  scale(a: Tensor, s: number): Tensor {
    return this.elementwise(SCALE, a, null, s);
  }

  siluMul(gate: Tensor, up: Tensor): Tensor {
    return this.elementwise(SILU_MUL, gate, up);
  }

  relu(x: Tensor): Tensor {
    return this.elementwise(RELU, x, null);
  }

  routeTopK(logits: Tensor, topK: number): Tensor {
    const [rows, d] = rowsCols(logits);
    if (d > 1024 || topK < 1 || topK > d) throw new Error(`routeTopK: top ${topK} of ${d} experts (at most 1024)`);
    const out = this.output(logits.shape);
    this.dispatch(ROUTE_TOP_K, [logits, out], { rows, d, k: topK }, Math.ceil(rows / 64));
    return out;
  }

  scaleRows(x: Tensor, weights: Tensor, column: number, indicator = false): Tensor {
    const [rows, d] = rowsCols(x), [wRows, cols] = rowsCols(weights);
    if (wRows !== rows || column < 0 || column >= cols) throw new Error(`scaleRows: weights [${wRows}, ${cols}] column ${column} for ${rows} rows`);
    const out = this.output(x.shape);
    this.dispatch(SCALE_ROWS, [x, weights, out], { n: rows * d, d, cols, column, indicator: indicator ? 1 : 0 }, Math.ceil((rows * d) / ELEMENTWISE_GROUP));
    return out;
  }

  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
    const [rows, d] = rowsCols(x);
    if (this.gpu(weight).length !== d || this.gpu(bias).length !== d) throw new Error(`layerNorm: weight/bias of ${this.gpu(weight).length}/${this.gpu(bias).length} for rows of ${d}`);
    const out = this.output(x.shape);
    this.dispatch(LAYER_NORM, [x, weight, bias, out], { rows, d, eps }, rows);
    return out;
  }

  rowSumSquares(x: Tensor): Tensor {
    const [rows, d] = rowsCols(x);
    const out = this.output([rows]);
    this.dispatch(ROW_SUM_SQUARES, [x, out], { rows, d }, rows);
    return out;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const [rows, d] = rowsCols(x);
    if (this.gpu(weight).length !== d) throw new Error(`rmsNorm: weight of ${this.gpu(weight).length} for rows of ${d}`);
    const out = this.output(x.shape);
    this.dispatch(RMS_NORM, [x, weight, out], { rows, d, eps }, rows);
    return out;
  }

  embedding(table: Tensor, ids: Int32Array): Tensor {
    const [vocab, d] = dims2(table);
    for (const id of ids) if (id < 0 || id >= vocab) throw new Error(`token id ${id} outside the vocabulary (${vocab})`);
    const idBuffer = this.uploadBuffer(new Uint32Array(ids));
    const out = this.output([ids.length, d]);
    this.dispatch(EMBEDDING, [table, idBuffer, out], { n: ids.length, d }, Math.ceil((ids.length * d) / ELEMENTWISE_GROUP));
    this.afterSubmit.push(idBuffer);
    return out;
  }

  rope(x: Tensor, cos: Tensor, sin: Tensor, heads: number, headDim: number): Tensor {
    const [rows, width] = rowsCols(x);
    const [seqLen, half] = dims2(cos);
    if (width !== heads * headDim || half * 2 !== headDim || rows % seqLen !== 0) throw new Error('rope: shape mismatch');
    const out = this.output(x.shape);
    this.dispatch(ROPE, [x, cos, sin, out], { rows, seqLen, heads, half }, Math.ceil((rows * heads * half) / ELEMENTWISE_GROUP));
    return out;
  }

  attention(q: Tensor, k: Tensor, v: Tensor, s: AttentionShape): Tensor {
    const rows = s.batch * s.seqLen;
    if (this.gpu(q).length !== rows * s.heads * s.headDim || this.gpu(k).length !== rows * s.kvHeads * s.headDim || this.gpu(v).length !== this.gpu(k).length)
      throw new Error('attention: q/k/v sizes disagree with the attention shape');
    return this.attend(q, k, v, s.batch, s.seqLen, s.seqLen, 0, s);
  }

  attendCached(q: Tensor, k: Tensor, v: Tensor, s: CachedAttentionShape): Tensor {
    const n = this.gpu(q).length / (s.heads * s.headDim);
    if (!Number.isInteger(n) || this.gpu(k).length !== (s.past + n) * s.kvHeads * s.headDim || this.gpu(v).length !== this.gpu(k).length)
      throw new Error('attendCached: q/k/v sizes disagree with the attention shape');
    return this.attend(q, k, v, 1, n, s.past + n, s.past, s);
  }

  concatRows(a: Tensor, b: Tensor): Tensor {
    const [n, d] = rowsCols(a), [m, d2] = rowsCols(b);
    if (d !== d2) throw new Error(`concatRows: widths ${d} and ${d2} differ`);
    const out = this.output([n + m, d]);
    const enc = this.copyEncoder();
    if (n > 0) enc.copyBufferToBuffer(this.gpu(a).buffer, 0, out.buffer, 0, n * d * 4);
    if (m > 0) enc.copyBufferToBuffer(this.gpu(b).buffer, 0, out.buffer, n * d * 4, m * d * 4);
    return out;
  }

  nll(logits: Tensor, targets: Int32Array): Tensor {
    const [rows, vocab] = rowsCols(logits);
    if (rows !== targets.length) throw new Error(`nll: ${rows} rows of logits for ${targets.length} targets`);
    for (const t of targets) if (t < 0 || t >= vocab) throw new Error(`nll: target ${t} outside the vocabulary (${vocab})`);
    const targetBuffer = this.uploadBuffer(new Uint32Array(targets));
    const out = this.output([rows]);
    this.dispatch(NLL, [logits, targetBuffer, out], { rows, d: vocab }, rows);
    this.afterSubmit.push(targetBuffer);
    return out;
  }

  actQuant(x: Tensor, spec: ActQuantSpec): Tensor {
    const [rows, d] = rowsCols(x);
    const { qmin, qmax } = actLevels(spec);
    const out = this.output(x.shape);
    this.dispatch(ACT_QUANT, [x, out], { rows, d, qmin, qmax, clip: spec.clipRatio, symmetric: spec.symmetric ? 1 : 0 }, rows);
    return out;
  }

  uploadIntegerWeight(w: RowGridWeight): Tensor {
    return uploadIntegerWeight(this, w);
  }

  /** On the int8 tensor cores where the device has them (`int8`), else by INTEGER_MATMUL. */
  integerLinear(x: Tensor, w: Tensor, spec: ActQuantSpec, bias?: Tensor): Tensor {
    if (!(w instanceof IntegerWeight)) throw new Error('integerLinear: the weight is not from uploadIntegerWeight');
    return integerLinear(this, x, w, spec, this.int8, bias);
  }

  /**
   * x Q as a product with the dense rotation matrix, built once per rotation on the host (the
   * rows of I Q). Simple and exact to f32 rounding; a fast Walsh-Hadamard kernel would save the
   * size^2 matrix (11008^2 floats for Llama-2-7B's down_proj).
   */
  rotate(x: Tensor, r: Rotation): Tensor {
    const [, width] = rowsCols(x);
    if (width !== r.size) throw new Error(`rotate: rows of ${width} features, rotation of size ${r.size}`);
    let q = this.rotations.get(r);
    if (!q) {
      const dense = new Float32Array(r.size * r.size);
      for (let i = 0; i < r.size; i++) dense[i * r.size + i] = 1;
      rotateRows(dense, r.size, r);
      q = this.upload(dense, [r.size, r.size]) as GpuTensor;
      this.rotations.set(r, q);
    }
    const [rows] = rowsCols(x);
    return this.product(x, width, false, q, width, false, rows, width, width, undefined, x.shape);
  }

  // ---- recording and submitting ----

  /** The backend's own tensor; a 16-bit weight only where `half` allows it (its words are not f32). */
  private gpu(t: Tensor, half = false): GpuTensor {
    if (!(t instanceof GpuTensor) || t.owner !== this) throw new Error('tensor does not belong to this WebGPU backend');
    if (t.half && !half) throw new Error('a 16-bit weight (uploadHalf) can only be the weight of linear');
    return t;
  }

  private product(a: Tensor, lda: number, transA: boolean, b: Tensor, ldb: number, transB: boolean,
    m: number, n: number, k: number, bias: Tensor | undefined, shape: readonly number[], half?: HalfWeights['format']): GpuTensor {
    if (bias && this.gpu(bias).length !== n) throw new Error(`bias of ${this.gpu(bias).length} for ${n} outputs`);
    this.gpu(a);
    this.gpu(b, half !== undefined); // a 16-bit weight enters only through linear
    const out = this.output(shape);
    const groupsX = Math.ceil(n / TILE), groupsY = Math.ceil(m / TILE);
    const kernel = half ? MATMUL_HALF_WEIGHT[half] : MATMUL[transA ? 't' : 'n'][transB ? 't' : 'n'];
    this.dispatch(kernel, [a, b, bias ?? this.empty, out],
      { m, n, k, lda, ldb, hasBias: bias ? 1 : 0 }, [groupsX, groupsY]);
    return out;
  }

  private elementwise(kernel: Kernel, a: Tensor, b: Tensor | null, s = 0): GpuTensor {
    const n = this.gpu(a).length;
    if (b && this.gpu(b).length !== n) throw new Error(`shapes differ: [${a.shape}] vs [${b.shape}]`);
    const out = this.output(a.shape);
    this.dispatch(kernel, b ? [a, b, out] : [a, out], { n, s }, Math.ceil(n / ELEMENTWISE_GROUP));
    return out;
  }

  private attend(q: Tensor, k: Tensor, v: Tensor, batch: number, queries: number, keys: number, past: number,
    s: { heads: number; kvHeads: number; headDim: number; window?: number }): GpuTensor {
    if (s.headDim > MAX_HEAD_DIM) throw new LowbitError(`the WebGPU attention kernel supports head dimensions up to ${MAX_HEAD_DIM}, not ${s.headDim}`);
    const out = this.output([batch * queries, s.heads * s.headDim]);
    const params = {
      batch, queries, keys, past, heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, window: s.window ?? 0, scale: 1 / Math.sqrt(s.headDim),
    };
    // Tiled when there are queries enough to share key blocks (a forward pass); one query a
    // workgroup otherwise (generation's single new token).
    if (s.headDim <= TILED_MAX_HEAD_DIM && queries > 1) this.dispatch(ATTENTION_TILED, [q, k, v, out], params, batch * s.heads * Math.ceil(queries / TILE_QUERIES));
    else this.dispatch(ATTENTION, [q, k, v, out], params, batch * queries * s.heads);
    return out;
  }

  // ---- for the solvers (solvers.ts) ----

  /** A new tensor of zeros. */
  zeros(shape: readonly number[]): GpuTensor {
    const t = this.output(shape);
    this.copyEncoder().clearBuffer(t.buffer);
    return t;
  }

  /** A copy of a tensor. */
  copyTensor(t: Tensor): GpuTensor {
    const src = this.gpu(t);
    const out = this.output(src.shape);
    this.copyEncoder().copyBufferToBuffer(src.buffer, 0, out.buffer, 0, src.length * 4);
    return out;
  }

  /** Uploads 32-bit words (f32 or u32 data) as a tensor of the given shape. */
  uploadWords(data: Float32Array | Uint32Array, shape: readonly number[]): GpuTensor {
    return new GpuTensor([...shape], this.uploadBuffer(data), this);
  }

  /** A new output tensor, from the pool when a freed buffer of the same size is there. */
  output(shape: readonly number[]): GpuTensor {
    const size = Math.max(16, shape.reduce((a, b) => a * b, 1) * 4);
    const list = this.pool.get(size);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= size;
      return new GpuTensor([...shape], reused, this);
    }
    return new GpuTensor([...shape], this.createStorage(size), this);
  }

  private createStorage(size: number, mapped = false): GPUBuffer {
    if (size > this.device.limits.maxStorageBufferBindingSize)
      throw new LowbitError(`a tensor of ${(size / 2 ** 20).toFixed(0)} MiB exceeds this GPU's largest storage binding (${(this.device.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB)`);
    return this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: mapped });
  }

  /** Bytes uploaded since the last submit. */
  private uploaded = 0;

  private uploadBuffer(data: Float32Array | Uint32Array): GPUBuffer {
    const buffer = this.createStorage(Math.max(16, data.byteLength), true);
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
    // The host copy (Dawn's staging) is released only after a submit: without one every ~256 MB, loading a
    // model held all of it (a 7B bf16 model: 14.3 GB of host memory; with it, 1.65 GB, on the H100).
    this.uploaded += data.byteLength;
    if (this.uploaded > UPLOAD_BYTES_PER_SUBMIT) {
      this.flush();
      this.device.queue.submit([]);
      this.uploaded = 0;
    }
    return buffer;
  }

  private pipeline(kernel: Kernel): GPUComputePipeline {
    let p = this.pipelines.get(kernel.name);
    if (!p) {
      const module = this.device.createShaderModule({ code: kernelSource(kernel), label: kernel.name });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: kernel.name });
      this.pipelines.set(kernel.name, p);
      this.layouts.set(p, p.getBindGroupLayout(0));
    }
    return p;
  }

  /** Records one dispatch of `kernel` over `groups` workgroups (a count laid out by `grid`, or x and y). */
  dispatch(kernel: Kernel, buffers: (Tensor | GPUBuffer)[], params: ParamValues, groups: number | [number, number]): void {
    const [x, y] = typeof groups === 'number' ? grid(groups) : groups;
    if (x === 0 || y === 0) return; // an empty product: nothing to compute
    // The parameters go to this batch's slot of one uniform buffer, written when the batch is submitted:
    // a buffer mapped at creation for every dispatch cost ~0.5 ms each on the H100 (1000 small
    // dispatches took 665 ms), more than most kernels.
    this.uniforms ??= this.device.createBuffer({ size: MAX_PENDING_DISPATCHES * UNIFORM_SLOT, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    const slot = this.pending * UNIFORM_SLOT;
    packParams(kernel, params, this.uniformData, slot);
    const pipeline = this.pipeline(kernel);
    const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({ binding: i, resource: { buffer: b instanceof GpuTensor ? this.gpu(b, true).buffer : (b as GPUBuffer) } }));
    entries.push({ binding: buffers.length, resource: { buffer: this.uniforms, offset: slot, size: paramBytes(kernel) } });
    const bindGroup = this.device.createBindGroup({ layout: this.layouts.get(pipeline)!, entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
    if (++this.pending >= MAX_PENDING_DISPATCHES) this.flush();
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) {
      this.encoder ??= this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    return this.pass;
  }

  /** The encoder with no compute pass open (copies are recorded outside passes). */
  private copyEncoder(): GPUCommandEncoder {
    this.pass?.end();
    this.pass = null;
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private flush(): void {
    if (this.uniforms) {
      this.device.queue.writeBuffer(this.uniforms, 0, this.uniformData, 0, this.pending * UNIFORM_SLOT);
      this.afterSubmit.push(this.uniforms);
      this.uniforms = null;
    }
    if (this.encoder) {
      const enc = this.copyEncoder();
      this.device.queue.submit([enc.finish()]);
      this.encoder = null;
    }
    this.pending = 0;
    // Destroyed once the GPU is done with them: Dawn on SwiftShader frees a destroyed buffer at
    // once, even while submitted work still reads it.
    const done = this.afterSubmit;
    this.afterSubmit = [];
    if (done.length) void this.device.queue.onSubmittedWorkDone().then(() => done.forEach((b) => b.destroy()));
  }

  private throwIfFailed(): void {
    if (this.error) throw new Error(`WebGPU: ${this.error}`);
  }
}
