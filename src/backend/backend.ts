/**
 * The numerical backend interface: everything the forward pass, evaluation and calibration
 * statistics need. Tensors are opaque handles that may live on a device; operations are issued
 * synchronously and may run asynchronously (as WebGPU does); `read` is the only way back to host
 * memory and is async. All tensors are f32, row-major; a 2-D tensor [n, d] holds n rows (tokens)
 * of d features.
 *
 * Quantizers work on host matrices (src/linalg) layer by layer and exchange only weights and
 * statistics with the backend, unless the backend offers `solvers` (solvers.ts) and the method can
 * use them (GPTQ, QuantEase and LRC on lowbit's group grids): then weights and statistics stay where they are.
 */

import type { Rotation } from '../linalg/hadamard.js';
import type { DeviceSolvers } from './solvers.js';

import type { HalfWeights, RowGridWeight } from '../io/tensor-source.js';

export interface Tensor {
  readonly shape: readonly number[];
}

/** Layout of a batch of attention windows: q is [batch*seqLen, heads*headDim], k/v are [batch*seqLen, kvHeads*headDim]. */
export interface AttentionShape {
  batch: number;
  seqLen: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Sliding-window size (Mistral); undefined or 0 for full causal attention. */
  window?: number;
}

/** Shape of attention over a KV cache (one sequence). */
export interface CachedAttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Positions already in the cache before the new queries. */
  past: number;
  window?: number;
}

export interface Backend {
  readonly name: string;

  /** Copies host data into a new tensor of the given shape. */
  upload(data: Float32Array, shape: readonly number[]): Tensor;
  /**
   * A linear weight kept in its stored 16-bit floats (bf16/f16, unpacked by the kernel that reads
   * it): half of f32's memory. Such a tensor is only ever the `weight` of `linear`. Optional: a
   * backend without it widens packed weights per call instead (PackedLinear).
   */
  uploadHalf?(half: HalfWeights, shape: readonly number[]): Tensor;
  /**
   * An f32 tensor from 16-bit floats (bf16/f16) uploaded as stored and widened on the device: half
   * the bytes of an f32 upload and no conversion on the host (a 7B block loads in a fraction of
   * the time). Optional: without it the host widens and `upload`s.
   */
  uploadWidened?(half: HalfWeights, shape: readonly number[]): Tensor;
  /** Copies a tensor's contents to a new host array. */
  read(t: Tensor): Promise<Float32Array>;
  /** Releases a tensor's memory; the handle must not be used afterwards. */
  free(t: Tensor): void;

  /** op(a) op(b) for 2-D tensors. */
  matmul(a: Tensor, b: Tensor, opts?: { transA?: boolean; transB?: boolean }): Tensor;
  /** x W^T + bias for x [n, in], W [out, in] (Hugging Face's nn.Linear layout), bias [out]. */
  linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor;
  /** X^T X for x [n, d]: the [d, d] Gram matrix of the rows (calibration Hessians). */
  gram(x: Tensor): Tensor;

  add(a: Tensor, b: Tensor): Tensor;
  mul(a: Tensor, b: Tensor): Tensor;
  scale(a: Tensor, s: number): Tensor;
  /** silu(gate) * up, the SwiGLU activation. */
  siluMul(gate: Tensor, up: Tensor): Tensor;
  /** max(x, 0) (OPT's MLP). */
  relu(x: Tensor): Tensor;
  /**
   * Mixture-of-experts routing (Mixtral): per row of expert logits [n, experts], the softmax, its
   * topK largest kept and renormalised to sum 1, every other expert 0: dense routing weights [n, experts].
   * Ties go to the lower expert index.
   */
  routeTopK(logits: Tensor, topK: number): Tensor;
  /**
   * x [n, d] with row i scaled by weights[i, column] (weights [n, columns]); with `indicator`, by 1
   * where that weight is non-zero and 0 where it is zero (the rows an expert was routed).
   */
  scaleRows(x: Tensor, weights: Tensor, column: number, indicator?: boolean): Tensor;
  /** Sum of squares of each row: [n, d] -> [n]. */
  rowSumSquares(x: Tensor): Tensor;

  /** RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) * weight. */
  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor;
  /** LayerNorm over the last dimension: (x - mean(x)) / sqrt(var(x) + eps) * weight + bias (biased variance, as torch). */
  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor;
  /** Rows of `table` [vocab, d] selected by ids: [ids.length, d]. */
  embedding(table: Tensor, ids: Int32Array): Tensor;
  /**
   * Rotary position embedding in Hugging Face's rotate-half convention, in place of a new tensor:
   * x is [batch*seqLen, heads*headDim]; cos and sin are [seqLen, headDim/2] (position-major).
   */
  rope(x: Tensor, cos: Tensor, sin: Tensor, heads: number, headDim: number): Tensor;
  /** Causal scaled-dot-product attention with grouped KV heads; returns [batch*seqLen, heads*headDim]. */
  attention(q: Tensor, k: Tensor, v: Tensor, shape: AttentionShape): Tensor;
  /**
   * Attention of n new queries at positions past..past+n-1 over the keys and values of all
   * positions 0..past+n-1 (a KV cache plus the new rows): q [n, heads*headDim], k/v [past+n, kvHeads*headDim].
   */
  attendCached(q: Tensor, k: Tensor, v: Tensor, shape: CachedAttentionShape): Tensor;
  /** The rows of a followed by the rows of b (equal widths): growing a KV cache. */
  concatRows(a: Tensor, b: Tensor): Tensor;
  /** Per-row negative log-likelihood of `targets` under softmax(logits): [n, vocab] -> [n]. */
  nll(logits: Tensor, targets: Int32Array): Tensor;

  /**
   * Fake activation quantization, per row (token): quantize to `bits` on the row's own grid and
   * dequantize (see ActQuantSpec).
   */
  actQuant(x: Tensor, spec: ActQuantSpec): Tensor;
  /**
   * Integer products for activation-quantized models (W4A4, W8A8, ...; optional, with
   * integerLinear): a weight quantized per output row kept as its codes, for integerLinear only.
   */
  uploadIntegerWeight?(w: RowGridWeight): Tensor;
  /**
   * linear(actQuant(x, spec), W) (+ bias) for W from uploadIntegerWeight, computed on the codes:
   * x quantized per token as actQuant does, the codes multiplied exactly in integers, the scales
   * and zero points applied to the sums (no fake quantization in floating point).
   */
  integerLinear?(x: Tensor, w: Tensor, spec: ActQuantSpec, bias?: Tensor): Tensor;
  /** x Q for every row of x [n, size], Q the orthogonal rotation described by `r`. */
  rotate(x: Tensor, r: Rotation): Tensor;

  /** Dense linear algebra and column sweeps for the quantizers' solvers, on this backend's tensors (optional). */
  readonly solvers?: DeviceSolvers;

  /**
   * Waits until the device has run all but the most recent batch of the work issued so far (optional:
   * backends that run asynchronously). A loop over many batches calls it every batch or few, so that the
   * host never runs far ahead of the device: memory freed by earlier batches is released before
   * later ones allocate (without it, 64 calibration batches of a 7B block ran a GPU out of memory).
   */
  sync?(): Promise<void>;

  /** Releases the device the backend holds (a GPU); the backend must not be used afterwards. */
  dispose?(): void;
}

/** [rows, cols] of a 2-D tensor. */
export function dims2(t: Tensor): [number, number] {
  if (t.shape.length !== 2) throw new Error(`expected a 2-D tensor, got shape [${t.shape}]`);
  return [t.shape[0], t.shape[1]];
}

/** Views a tensor as [rows, last dim]. */
export function rowsCols(t: Tensor): [number, number] {
  const d = t.shape[t.shape.length - 1];
  return [t.shape.reduce((a, b) => a * b, 1) / d, d];
}

/**
 * Per-token activation quantization as QuaRot does it. Symmetric: scale = clip * max|x| /
 * (2^(b-1) - 1), levels -2^(b-1)..2^(b-1)-1. Asymmetric: range [clip * min(x, 0), clip * max(x, 0)],
 * 2^b levels with an integer zero point.
 */
export interface ActQuantSpec {
  bits: number;
  clipRatio: number;
  symmetric: boolean;
}
