/**
 * The Llama-family decoder (Llama 2/3, Mistral, Qwen2), as Hugging Face's modeling_llama.py
 * computes it, in f32:
 *
 *   x = embed(ids)
 *   for each block:  h = rmsnorm(x) ; x += o_proj(attn(rope(q_proj h), rope(k_proj h), v_proj h))
 *                    h = rmsnorm(x) ; x += down_proj(silu(gate_proj h) * up_proj h)
 *   logits = lm_head(rmsnorm(x))
 *
 * A forward call processes `batch` independent windows of `seqLen` tokens (positions restart at 0
 * in each window). Blocks are exposed one at a time so calibration can run the model block by
 * block and observe every linear layer's input.
 */
import { native } from '../native/index.js';
import type { ActQuantSpec, Backend, Tensor } from '../backend/index.js';
import type { Rotation } from '../linalg/hadamard.js';
import type { PackedTensor, TensorSource } from '../io/tensor-source.js';
import type { Scratch } from '../io/scratch.js';
import { LowbitError } from '../util/errors.js';
import { layerWindow, type ModelConfig } from './config.js';
import { ropeTables } from './rope.js';

/** The seven linear layers of a decoder block, by their Hugging Face names. */
export const LINEAR_NAMES = [
  'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj',
  'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj',
] as const;
export type LinearName = (typeof LINEAR_NAMES)[number];

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
    if (!this.lowRank) return y;
    const xv = be.matmul(x, this.lowRank.v);
    const corr = be.matmul(xv, this.lowRank.u, { transB: true });
    be.free(xv);
    const out = be.add(y, corr);
    be.free(y);
    be.free(corr);
    return out;
  }
}

export interface Block {
  /** Attention window of this layer in tokens (0: full causal attention): layerWindow(config, layer). */
  window: number;
  inputNorm: Tensor;
  postNorm: Tensor;
  linears: Record<LinearName, Linear>;
  /** Online rotation of down_proj's input (QuaRot), folded into down_proj's weight. */
  downRotation?: Rotation;
}

export interface Model {
  config: ModelConfig;
  embed: Tensor;
  blocks: Block[];
  finalNorm: Tensor;
  lmHead: Linear;
}

export interface WindowShape {
  batch: number;
  seqLen: number;
}

/** Receives each linear layer's input during a block's forward pass (calibration hooks). */
export type LinearObserver = (name: LinearName, input: Tensor) => void;

const LINEAR_WEIGHT = /^model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.weight$/;

/** Layer index and linear name of a block linear's weight tensor name, or null for any other tensor. */
export function parseLinearWeightName(name: string): { layer: number; linear: LinearName } | null {
  const m = LINEAR_WEIGHT.exec(name);
  return m ? { layer: Number(m[1]), linear: m[2] as LinearName } : null;
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
  for (const name of LINEAR_NAMES) {
    const l = block.linears[name];
    if (l instanceof DenseLinear) block.linears[name] = new QuantizedActLinear(l.weight, l.bias, activation, null);
  }
}

/** The weight and bias tensors of a block's linear, whatever its kind. */
export function linearTensors(l: Linear): { weight: Tensor; bias?: Tensor; lowRank?: { u: Tensor; v: Tensor } } {
  if (l instanceof DenseLinear) return { weight: l.weight, bias: l.bias };
  if (l instanceof QuantizedActLinear) return { weight: l.weight, bias: l.bias, lowRank: l.lowRank ?? undefined };
  throw new Error('unknown linear kind');
}

/** Hugging Face tensor name of a block's parameter. */
export function blockTensorName(layer: number, what: string): string {
  return `model.layers.${layer}.${what}`;
}

/** Every tensor a config implies, with its shape: used to validate checkpoints. */
export function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const { hiddenSize: h, intermediateSize: m, headDim: hd, numHeads: nh, numKvHeads: nkv, vocabSize: v } = cfg;
  const t = new Map<string, number[]>();
  t.set('model.embed_tokens.weight', [v, h]);
  t.set('model.norm.weight', [h]);
  if (!cfg.tieWordEmbeddings) t.set('lm_head.weight', [v, h]);
  const linearShapes: Record<LinearName, [number, number]> = {
    'self_attn.q_proj': [nh * hd, h], 'self_attn.k_proj': [nkv * hd, h], 'self_attn.v_proj': [nkv * hd, h],
    'self_attn.o_proj': [h, nh * hd], 'mlp.gate_proj': [m, h], 'mlp.up_proj': [m, h], 'mlp.down_proj': [h, m],
  };
  for (let l = 0; l < cfg.numLayers; l++) {
    t.set(blockTensorName(l, 'input_layernorm.weight'), [h]);
    t.set(blockTensorName(l, 'post_attention_layernorm.weight'), [h]);
    for (const name of LINEAR_NAMES) {
      const [o, i] = linearShapes[name];
      t.set(blockTensorName(l, `${name}.weight`), [o, i]);
      if (hasBias(cfg, name)) t.set(blockTensorName(l, `${name}.bias`), [o]);
    }
  }
  return t;
}

export function hasBias(cfg: ModelConfig, name: LinearName): boolean {
  if (name === 'self_attn.o_proj') return cfg.bias.o;
  if (name.startsWith('self_attn.')) return cfg.bias.qkv;
  return cfg.bias.mlp;
}

/** Checks that the source holds every tensor the config implies, with the implied shape. */
export function validateTensors(cfg: ModelConfig, src: TensorSource): void {
  for (const [name, shape] of expectedTensors(cfg)) {
    if (!src.has(name)) throw new LowbitError(`checkpoint has no tensor ${name}, which config.json implies`, src.dir);
    const got = src.shape(name);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i]))
      throw new LowbitError(`tensor ${name} has shape [${got.join(', ')}] but config.json implies [${shape.join(', ')}]`, src.fileOf(name));
  }
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

/** Reads a tensor of a validated source and uploads it (NaN/Inf rejected). */
export function uploadTensor(be: Backend, src: TensorSource, name: string): Tensor {
  return be.upload(readFinite(src, name), src.shape(name));
}

/** Loads decoder block `layer` onto the backend. */
export function loadBlock(cfg: ModelConfig, src: TensorSource, be: Backend, layer: number, load = (n: string) => uploadTensor(be, src, n),
  loadPacked: (n: string) => PackedTensor | null = () => null): Block {
  const linears = {} as Record<LinearName, Linear>;
  for (const name of LINEAR_NAMES) {
    const weightName = blockTensorName(layer, `${name}.weight`);
    const bias = hasBias(cfg, name) ? load(blockTensorName(layer, `${name}.bias`)) : undefined;
    const p = loadPacked(weightName);
    linears[name] = p ? new PackedLinear(p, bias) : new DenseLinear(load(weightName), bias);
  }
  return {
    window: layerWindow(cfg, layer),
    inputNorm: load(blockTensorName(layer, 'input_layernorm.weight')),
    postNorm: load(blockTensorName(layer, 'post_attention_layernorm.weight')),
    linears,
  };
}

/** Loads all weights of a validated source onto the backend. */
export function loadModel(cfg: ModelConfig, src: TensorSource, be: Backend, opts: LoadOptions = {}): Model {
  validateTensors(cfg, src);
  const total = expectedTensors(cfg).size;
  let done = 0;
  const load = (name: string): Tensor => {
    const t = uploadTensor(be, src, name);
    opts.onTensor?.(name, ++done, total);
    return t;
  };
  const embed = load('model.embed_tokens.weight');
  const blocks: Block[] = [];
  const loadPacked = (name: string): PackedTensor | null => {
    const p = opts.packed ? src.readPacked?.(name) ?? null : null;
    if (!p) return null;
    assertFinite(p.decode(), name, src.fileOf(name)); // once, as uploadTensor checks dense weights
    opts.onTensor?.(name, ++done, total);
    return p;
  };
  for (let l = 0; l < cfg.numLayers; l++) blocks.push(loadBlock(cfg, src, be, l, load, loadPacked));
  const finalNorm = load('model.norm.weight');
  const lmHead = new DenseLinear(cfg.tieWordEmbeddings ? embed : load('lm_head.weight'));
  return { config: cfg, embed, blocks, finalNorm, lmHead };
}

/** Token embeddings of `ids` ([batch*seqLen]). */
export function embedTokens(be: Backend, model: Model, ids: Int32Array): Tensor {
  return be.embedding(model.embed, ids);
}

const ropeCache = new WeakMap<Backend, WeakMap<ModelConfig, Map<number, { cos: Tensor; sin: Tensor }>>>();

/** RoPE cos/sin tables for positions 0..seqLen-1, uploaded once per backend, config and length. */
function ropeFor(be: Backend, cfg: ModelConfig, seqLen: number): { cos: Tensor; sin: Tensor } {
  let perBackend = ropeCache.get(be);
  if (!perBackend) ropeCache.set(be, (perBackend = new WeakMap()));
  let perConfig = perBackend.get(cfg);
  if (!perConfig) perBackend.set(cfg, (perConfig = new Map()));
  let t = perConfig.get(seqLen);
  if (!t) {
    const { cos, sin } = ropeTables(cfg, seqLen);
    const half = cfg.headDim / 2;
    t = { cos: be.upload(cos, [seqLen, half]), sin: be.upload(sin, [seqLen, half]) };
    perConfig.set(seqLen, t);
  }
  return t;
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

/** RoPE tables for positions past..past+n-1 (generation: uploaded per step, n rows). */
function ropeAt(be: Backend, cfg: ModelConfig, past: number, n: number): { cos: Tensor; sin: Tensor } {
  const { cos, sin } = ropeTables(cfg, past + n);
  const half = cfg.headDim / 2;
  return { cos: be.upload(cos.slice(past * half), [n, half]), sin: be.upload(sin.slice(past * half), [n, half]) };
}

/**
 * One decoder block on hidden states x [batch*seqLen, hidden]; returns the new hidden states.
 * With a cache (one sequence: batch 1), x holds the positions after the cached ones.
 */
export function blockForward(be: Backend, cfg: ModelConfig, block: Block, x: Tensor, shape: WindowShape, observe?: LinearObserver, cache?: LayerCache): Tensor {
  const L = block.linears;
  const run = (name: LinearName, input: Tensor): Tensor => {
    observe?.(name, input);
    return L[name].forward(be, input);
  };
  const { cos, sin } = cache ? ropeAt(be, cfg, cache.past, shape.seqLen) : ropeFor(be, cfg, shape.seqLen);

  const h1 = be.rmsNorm(x, block.inputNorm, cfg.rmsNormEps);
  const q0 = run('self_attn.q_proj', h1), k0 = run('self_attn.k_proj', h1), v = run('self_attn.v_proj', h1);
  be.free(h1);
  const q = be.rope(q0, cos, sin, cfg.numHeads, cfg.headDim);
  const k = be.rope(k0, cos, sin, cfg.numKvHeads, cfg.headDim);
  be.free(q0);
  be.free(k0);
  let attn: Tensor;
  if (cache) {
    // Keys and values of every position so far: the cache, then the new rows.
    const kAll = cache.k ? be.concatRows(cache.k, k) : k, vAll = cache.v ? be.concatRows(cache.v, v) : v;
    attn = be.attendCached(q, kAll, vAll, { heads: cfg.numHeads, kvHeads: cfg.numKvHeads, headDim: cfg.headDim, past: cache.past, window: block.window });
    for (const t of [cache.k, cache.v, ...(cache.k ? [k, v] : []), cos, sin]) if (t) be.free(t);
    Object.assign(cache, { k: kAll, v: vAll, past: cache.past + shape.seqLen });
  } else {
    attn = be.attention(q, k, v, {
      batch: shape.batch, seqLen: shape.seqLen, heads: cfg.numHeads, kvHeads: cfg.numKvHeads, headDim: cfg.headDim, window: block.window,
    });
    be.free(k);
    be.free(v);
  }
  be.free(q);
  const o = run('self_attn.o_proj', attn);
  be.free(attn);
  const x1 = be.add(x, o);
  be.free(o);

  const h2 = be.rmsNorm(x1, block.postNorm, cfg.rmsNormEps);
  const gate = run('mlp.gate_proj', h2), up = run('mlp.up_proj', h2);
  be.free(h2);
  let act = be.siluMul(gate, up);
  be.free(gate);
  be.free(up);
  if (block.downRotation) {
    const rotated = be.rotate(act, block.downRotation);
    be.free(act);
    act = rotated;
  }
  const down = run('mlp.down_proj', act);
  be.free(act);
  const x2 = be.add(x1, down);
  be.free(x1);
  be.free(down);
  return x2;
}

/** Final norm and LM head: logits [rows, vocab]. */
export function headLogits(be: Backend, model: Model, x: Tensor): Tensor {
  const h = be.rmsNorm(x, model.finalNorm, model.config.rmsNormEps);
  const logits = model.lmHead.forward(be, h);
  be.free(h);
  return logits;
}

/** Logits of `ids` laid out as `batch` windows of `seqLen` tokens: [batch*seqLen, vocab]. */
export function forwardLogits(be: Backend, model: Model, ids: Int32Array, shape: WindowShape): Tensor {
  if (ids.length !== shape.batch * shape.seqLen) throw new Error(`expected ${shape.batch * shape.seqLen} ids, got ${ids.length}`);
  let x = embedTokens(be, model, ids);
  for (const block of model.blocks) {
    const next = blockForward(be, model.config, block, x, shape);
    be.free(x);
    x = next;
  }
  const logits = headLogits(be, model, x);
  be.free(x);
  return logits;
}
