/**
 * What every decoder architecture is made of, whatever its family (llama.ts, opt.ts): linear layers
 * (dense, activation-quantized with an optional low-rank term, or kept packed), the block and model
 * shapes the pipelines work with, KV caches, the runtime a quantized model carries, and reading
 * weights with NaN/Inf rejected.
 */
import { native } from '../native/index.js';
import type { ActQuantSpec, Backend, Tensor } from '../backend/index.js';
import type { Rotation } from '../linalg/hadamard.js';
import type { HalfWeights, PackedTensor, TensorSource } from '../io/tensor-source.js';
import { firstNonFinite } from '../io/safetensors.js';
import type { Scratch } from '../io/scratch.js';
import { LowbitError } from '../util/errors.js';
import type { ModelConfig } from './config.js';

/** A linear layer y = f(x); dense by default, replaceable by quantized variants. */
export interface Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  forward(be: Backend, x: Tensor): Tensor;
}

export class DenseLinear implements Linear {
  readonly outFeatures: number;
  readonly inFeatures: number;
  constructor(readonly weight: Tensor, readonly bias?: Tensor) {
    [this.outFeatures, this.inFeatures] = weight.shape as [number, number];
  }
  forward(be: Backend, x: Tensor): Tensor {
    return be.linear(x, this.weight, this.bias);
  }
}

/**
 * A linear layer of a W(b)A(b) model: y = W_hat Q_a(x) + U V^T x + bias, where Q_a quantizes
 * the input per token (fake quantization) and the optional full-precision low-rank term U V^T
 * (LRC) acts on the unquantized input.
 */
export class QuantizedActLinear implements Linear {
  readonly outFeatures: number;
  readonly inFeatures: number;
  constructor(
    readonly weight: Tensor,
    readonly bias: Tensor | undefined,
    readonly act: ActQuantSpec | null,
    /** U [out, k] and V [in, k]. */
    readonly lowRank: { u: Tensor; v: Tensor } | null,
  ) {
    [this.outFeatures, this.inFeatures] = weight.shape as [number, number];
  }
  forward(be: Backend, x: Tensor): Tensor {
    const xq = this.act ? be.actQuant(x, this.act) : x;
    const y = be.linear(xq, this.weight, this.bias);
    if (xq !== x) be.free(xq);
    return addLowRank(be, x, y, this.lowRank);
  }
}

/**
 * QuantizedActLinear run on integers (Backend.integerLinear): the weight kept as its per-channel
 * codes, each input quantized per token to codes, their product exact in integers (on a GPU's
 * int8 tensor cores), as W4A4/W8A8 deployments run; LRC's low-rank term stays in float on the
 * unquantized input. Equal to QuantizedActLinear up to float rounding.
 */
export class IntegerActLinear implements Linear {
  readonly outFeatures: number;
  readonly inFeatures: number;
  constructor(
    /** From Backend.uploadIntegerWeight. */
    readonly weight: Tensor,
    readonly bias: Tensor | undefined,
    readonly act: ActQuantSpec,
    readonly lowRank: { u: Tensor; v: Tensor } | null,
  ) {
    [this.outFeatures, this.inFeatures] = weight.shape as [number, number];
  }
  forward(be: Backend, x: Tensor): Tensor {
    return addLowRank(be, x, be.integerLinear!(x, this.weight, this.act, this.bias), this.lowRank);
  }
}

/** y + (x V) U^T (LRC's correction, on the unquantized input), or y without one; y is consumed. */
function addLowRank(be: Backend, x: Tensor, y: Tensor, lowRank: { u: Tensor; v: Tensor } | null): Tensor {
  if (!lowRank) return y;
  const xv = be.matmul(x, lowRank.v);
  const corr = be.matmul(xv, lowRank.u, { transB: true });
  be.free(xv);
  const out = be.add(y, corr);
  be.free(y);
  be.free(corr);
  return out;
}

export interface WindowShape {
  batch: number;
  seqLen: number;
}

/** Receives each linear layer's input during a block's forward pass (calibration hooks). */
export type LinearObserver = (name: string, input: Tensor, routing?: Routing) => void;

/**
 * For an expert's linear (Mixtral): the block's routing weights [tokens, experts] and the expert's
 * column. The expert is computed on every token and weighted by its column, which is zero for the
 * tokens not routed to it; its input statistics count only the routed ones.
 */
export interface Routing {
  weights: Tensor;
  expert: number;
}

/**
 * How a quantized model runs beyond its weights: per-token activation quantization of every
 * linear's input in the decoder blocks, and the rotation plan (QuaRot) whose online part applies
 * before down_proj. Saved in lowbit.json.
 */
export interface RuntimeSpec {
  activation: ActQuantSpec | null;
  rotation: { seed: number } | null;
}

/**
 * Makes a loaded block run as the quantized model does: every linear quantizes its input
 * (QuaRot quantizes the inputs of all seven block linears; the LM head stays in full precision)
 * and down_proj's input is rotated online.
 */
export function applyRuntime(block: Block, activation: ActQuantSpec | null, downRotation: Rotation | null): void {
  if (downRotation) block.downRotation = downRotation;
  if (!activation) return;
  for (const name of Object.keys(block.linears)) {
    const l = block.linears[name];
    if (l instanceof DenseLinear) block.linears[name] = new QuantizedActLinear(l.weight, l.bias, activation, null);
  }
}

/** The weight and bias tensors of a block's linear, whatever its kind. */
export function linearTensors(l: Linear): { weight: Tensor; bias?: Tensor; lowRank?: { u: Tensor; v: Tensor } } {
  if (l instanceof HalfLinear) throw new Error('a 16-bit weight (HalfLinear) is read only by linear; load the block unpacked to read or replace its weights');
  if (l instanceof DenseLinear) return { weight: l.weight, bias: l.bias };
  if (l instanceof QuantizedActLinear || l instanceof IntegerActLinear) return { weight: l.weight, bias: l.bias, lowRank: l.lowRank ?? undefined };
  throw new Error('unknown linear kind');
}

/** Hugging Face tensor name of a block's parameter. */
export function blockTensorName(layer: number, what: string): string {
  return `model.layers.${layer}.${what}`;
}

/** Throws if a tensor holds NaN/Inf, which would silently poison every result. */
export function assertFinite(data: Float32Array, name: string, file: string): void {
  const i = native ? native.firstNonFinite(data, data.length) : data.findIndex((x) => !Number.isFinite(x));
  if (i >= 0) throw new LowbitError(`tensor ${name} contains ${Number.isNaN(data[i]) ? 'NaN' : 'Inf'} at element ${i}`, file);
}

/** Reads a tensor as f32 (in the scratch's buffers when given) and rejects NaN/Inf. */
export function readFinite(src: TensorSource, name: string, scratch?: Scratch): Float32Array {
  const data = src.readF32(name, scratch);
  assertFinite(data, name, src.fileOf(name));
  return data;
}

export interface LoadOptions {
  /** Called after each tensor is loaded (progress). */
  onTensor?: (name: string, done: number, total: number) => void;
  /** Keep quantized linear weights packed (PackedLinear) when the source can serve them so. */
  packed?: boolean;
}

/**
 * A linear layer whose weight stays packed on the host (quantized codes, ggml blocks) and is
 * widened to f32 only for the duration of one forward call: a quantized model evaluates in less
 * memory than its source. Used by evaluation and generation for weight-only quantized models.
 */
export class PackedLinear implements Linear {
  readonly outFeatures: number;
  readonly inFeatures: number;
  constructor(readonly packed: PackedTensor, readonly bias?: Tensor) {
    [this.outFeatures, this.inFeatures] = packed.shape as [number, number];
  }
  forward(be: Backend, x: Tensor): Tensor {
    const w = be.upload(this.packed.decode(), this.packed.shape);
    const y = be.linear(x, w, this.bias);
    be.free(w);
    return y;
  }
}

/**
 * A linear layer whose weight the backend keeps in the checkpoint's 16-bit floats (bf16/f16),
 * unpacked by the product kernel itself: half of f32's memory on the device, nothing widened per
 * call. The weight is only ever read by `linear`.
 */
export class HalfLinear extends DenseLinear {}

/** The linear of a weight kept packed: resident in 16-bit floats where the backend can, else widened per call. */
export function packedLinear(be: Backend, p: PackedTensor, bias?: Tensor): Linear {
  return p.half && be.uploadHalf ? new HalfLinear(be.uploadHalf(p.half, p.shape), bias) : new PackedLinear(p, bias);
}

/**
 * Reads a tensor of a validated source and uploads it (NaN/Inf rejected). A bf16/f16 matrix goes
 * as stored to a backend that widens on its device (Backend.uploadWidened).
 */
export function uploadTensor(be: Backend, src: TensorSource, name: string): Tensor {
  const packed = be.uploadWidened ? src.readPacked?.(name) : null;
  if (packed?.half) {
    assertFiniteHalf(packed.half, name, src.fileOf(name));
    return be.uploadWidened!(packed.half, src.shape(name));
  }
  // Stored otherwise (quantized codes): decoded from what was just read rather than read again.
  const data = packed ? packed.decode() : src.readF32(name);
  assertFinite(data, name, src.fileOf(name));
  return be.upload(data, src.shape(name));
}

/** assertFinite on 16-bit floats as stored: an all-ones exponent is Inf (mantissa 0) or NaN. */
function assertFiniteHalf(half: HalfWeights, name: string, file: string): void {
  const { bits } = half;
  const i = firstNonFinite(new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength), half.format === 'bf16' ? 'BF16' : 'F16');
  if (i < 0) return;
  const mantissa = half.format === 'bf16' ? 0x7f : 0x3ff;
  throw new LowbitError(`tensor ${name} contains ${bits[i] & mantissa ? 'NaN' : 'Inf'} at element ${i}`, file);
}

/**
 * A block's keys and values of the positions seen so far (generation): the block appends the new
 * positions' k, v and attends over all of them.
 */
export interface LayerCache {
  k: Tensor | null;
  v: Tensor | null;
  /** Positions in the cache. */
  past: number;
}

/**
 * A decoder block as the pipelines see it: its linear layers by name suffix (the architecture's
 * linearNames), replaceable by quantized variants; the rest (norms) is the architecture's own.
 */
export interface Block {
  /** Attention window of this layer in tokens (0: full causal attention). */
  window: number;
  linears: Record<string, Linear>;
  /** Online rotation of the down projection's input (QuaRot), folded into that projection's weight. */
  downRotation?: Rotation;
}

/** A loaded model: its config and blocks (embeddings and head are the architecture's own). */
export interface Model {
  config: ModelConfig;
  blocks: Block[];
}

/**
 * The tensor loaders a model load uses, once the source is checked against the tensors the
 * architecture expects: `load` uploads a checked tensor, `loadPacked` keeps a linear packed when
 * asked and the source can (checked once, decoded); both count progress over the expected tensors.
 */
export function modelLoaders(expected: Map<string, number[]>, src: TensorSource, be: Backend, opts: LoadOptions): {
  load: (name: string) => Tensor; loadPacked: (name: string) => PackedTensor | null;
} {
  checkTensors(expected, src);
  const total = expected.size;
  let done = 0;
  const load = (name: string): Tensor => {
    const t = uploadTensor(be, src, name);
    opts.onTensor?.(name, ++done, total);
    return t;
  };
  const loadPacked = (name: string): PackedTensor | null => {
    const p = opts.packed ? src.readPacked?.(name) ?? null : null;
    if (!p) return null;
    assertFinite(p.decode(), name, src.fileOf(name)); // once, as uploadTensor checks dense weights
    opts.onTensor?.(name, ++done, total);
    return p;
  };
  return { load, loadPacked };
}

/** Checks that the source holds every expected tensor (name -> shape), with that shape. */
export function checkTensors(expected: Map<string, number[]>, src: TensorSource): void {
  for (const [name, shape] of expected) {
    if (!src.has(name)) throw new LowbitError(`checkpoint has no tensor ${name}, which config.json implies`, src.dir);
    const got = src.shape(name);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i]))
      throw new LowbitError(`tensor ${name} has shape [${got.join(', ')}] but config.json implies [${shape.join(', ')}]`, src.fileOf(name));
  }
}
