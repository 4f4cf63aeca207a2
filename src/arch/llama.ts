/**
 * The Llama-family decoder (Llama 2/3, Mistral, Qwen2, Phi-3), as Hugging Face's modeling_llama.py
 * computes it, in f32:
 *
 *   x = embed(ids)
 *   for each block:  h = rmsnorm(x) ; x += o_proj(attn(rope(q_proj h), rope(k_proj h), v_proj h))
 *                    h = rmsnorm(x) ; x += down_proj(silu(gate_proj h) * up_proj h)
 *   logits = lm_head(rmsnorm(x))
 *
 * Mixtral replaces the MLP by a mixture of SwiGLU experts (moe.ts).
 *
 * A forward call processes `batch` independent windows of `seqLen` tokens (positions restart at 0
 * in each window). Blocks are exposed one at a time so calibration can run the model block by
 * block and observe every linear layer's input.
 */
import type { Backend, Tensor } from '../backend/index.js';
import type { PackedTensor, TensorSource } from '../io/tensor-source.js';
import { layerWindow, type ModelConfig } from './config.js';
import { ropeTables } from './rope.js';
import type { Architecture, InputGroup } from './architecture.js';
import { ROUTER, expertLinear, expertLinearNames, expertShape, mixtureOfExperts } from './moe.js';
import {
  DenseLinear, packedLinear, blockTensorName, modelLoaders, uploadTensor,
  type Block, type LayerCache, type Linear, type LinearObserver, type LoadOptions, type Model, type Routing, type WindowShape,
} from './layers.js';

/** The seven linear layers of a decoder block, by their Hugging Face names. */
export const LINEAR_NAMES = [
  'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj',
  'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj',
] as const;
export type LinearName = (typeof LINEAR_NAMES)[number];

export interface LlamaBlock extends Block {
  inputNorm: Tensor;
  postNorm: Tensor;
  /** Mixtral's router [experts, hidden], kept in full precision; absent for a dense MLP. */
  router?: Tensor;
}

export interface LlamaModel extends Model {
  embed: Tensor;
  blocks: LlamaBlock[];
  finalNorm: Tensor;
  lmHead: Linear;
}

const LINEAR_WEIGHT = /^model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj|block_sparse_moe\.experts\.\d+\.w[123])\.weight$/;

/** Layer index and linear name of a block linear's weight tensor name, or null for any other tensor. */
export function parseLinearWeightName(name: string): { layer: number; linear: string } | null {
  const m = LINEAR_WEIGHT.exec(name);
  return m ? { layer: Number(m[1]), linear: m[2] } : null;
}

const ATTENTION_LINEARS = LINEAR_NAMES.slice(0, 4);

/** The block's linears: attention, then the MLP's three or every expert's three (Mixtral). */
export function linearNames(cfg: ModelConfig): readonly string[] {
  return cfg.moe ? [...ATTENTION_LINEARS, ...expertLinearNames(cfg)] : LINEAR_NAMES;
}

/** [rows, cols] of a block linear. */
function linearShape(cfg: ModelConfig, name: string): [number, number] {
  const { hiddenSize: h, intermediateSize: m, headDim: hd, numHeads: nh, numKvHeads: nkv } = cfg;
  switch (name) {
    case 'self_attn.q_proj': return [nh * hd, h];
    case 'self_attn.k_proj': case 'self_attn.v_proj': return [nkv * hd, h];
    case 'self_attn.o_proj': return [h, nh * hd];
    case 'mlp.gate_proj': case 'mlp.up_proj': return [m, h];
    case 'mlp.down_proj': return [h, m];
    default: return expertShape(cfg, name);
  }
}

/** Every tensor a config implies, with its shape: used to validate checkpoints. */
export function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const { hiddenSize: h, vocabSize: v } = cfg;
  const t = new Map<string, number[]>();
  t.set('model.embed_tokens.weight', [v, h]);
  t.set('model.norm.weight', [h]);
  if (!cfg.tieWordEmbeddings) t.set('lm_head.weight', [v, h]);
  for (let l = 0; l < cfg.numLayers; l++) {
    t.set(blockTensorName(l, 'input_layernorm.weight'), [h]);
    t.set(blockTensorName(l, 'post_attention_layernorm.weight'), [h]);
    if (cfg.moe) t.set(blockTensorName(l, `${ROUTER}.weight`), [cfg.moe.experts, h]);
    for (const name of linearNames(cfg)) {
      const [o, i] = linearShape(cfg, name);
      t.set(blockTensorName(l, `${name}.weight`), [o, i]);
      if (hasBias(cfg, name)) t.set(blockTensorName(l, `${name}.bias`), [o]);
    }
  }
  return t;
}

export function hasBias(cfg: ModelConfig, name: string): boolean {
  if (name === 'self_attn.o_proj') return cfg.bias.o;
  if (name.startsWith('self_attn.')) return cfg.bias.qkv;
  return cfg.bias.mlp;
}

/** Loads decoder block `layer` onto the backend. */
export function loadBlock(cfg: ModelConfig, src: TensorSource, be: Backend, layer: number, load = (n: string) => uploadTensor(be, src, n),
  loadPacked: (n: string) => PackedTensor | null = () => null): LlamaBlock {
  const linears: Record<string, Linear> = {};
  for (const name of linearNames(cfg)) {
    const weightName = blockTensorName(layer, `${name}.weight`);
    const bias = hasBias(cfg, name) ? load(blockTensorName(layer, `${name}.bias`)) : undefined;
    const p = loadPacked(weightName);
    linears[name] = p ? packedLinear(be, p, bias) : new DenseLinear(load(weightName), bias);
  }
  return {
    window: layerWindow(cfg, layer),
    inputNorm: load(blockTensorName(layer, 'input_layernorm.weight')),
    postNorm: load(blockTensorName(layer, 'post_attention_layernorm.weight')),
    ...(cfg.moe ? { router: load(blockTensorName(layer, `${ROUTER}.weight`)) } : {}),
    linears,
  };
}

/** Loads all weights of a validated source onto the backend. */
export function loadModel(cfg: ModelConfig, src: TensorSource, be: Backend, opts: LoadOptions = {}): LlamaModel {
  const { load, loadPacked } = modelLoaders(expectedTensors(cfg), src, be, opts);
  const embed = load('model.embed_tokens.weight');
  const blocks: LlamaBlock[] = [];
  for (let l = 0; l < cfg.numLayers; l++) blocks.push(loadBlock(cfg, src, be, l, load, loadPacked));
  const finalNorm = load('model.norm.weight');
  const lmHead = new DenseLinear(cfg.tieWordEmbeddings ? embed : load('lm_head.weight'));
  return { config: cfg, embed, blocks, finalNorm, lmHead };
}

/** Token embeddings of `ids` ([batch*seqLen]): positions enter through RoPE in the blocks. */
export function embedTokens(be: Backend, model: Model, ids: Int32Array): Tensor {
  return be.embedding((model as LlamaModel).embed, ids);
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
export function blockForward(be: Backend, cfg: ModelConfig, b: Block, x: Tensor, shape: WindowShape, observe?: LinearObserver, cache?: LayerCache): Tensor {
  const block = b as LlamaBlock, L = block.linears;
  const run = (name: string, input: Tensor, routing?: Routing): Tensor => {
    observe?.(name, input, routing);
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
  const down = block.router
    ? mixtureOfExperts(be, cfg, block.router, h2, run, (h) => observe?.(ROUTER, h))
    : swiGlu(be, block, h2, run);
  be.free(h2);
  const x2 = be.add(x1, down);
  be.free(x1);
  be.free(down);
  return x2;
}

/** down_proj(silu(gate_proj h) * up_proj h), down_proj's input rotated online when QuaRot asks. */
function swiGlu(be: Backend, block: LlamaBlock, h: Tensor, run: (name: string, input: Tensor) => Tensor): Tensor {
  const gate = run('mlp.gate_proj', h), up = run('mlp.up_proj', h);
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
  return down;
}

/** Final norm and LM head: logits [rows, vocab]. */
export function headLogits(be: Backend, m: Model, x: Tensor): Tensor {
  const model = m as LlamaModel;
  const h = be.rmsNorm(x, model.finalNorm, model.config.rmsNormEps);
  const logits = model.lmHead.forward(be, h);
  be.free(h);
  return logits;
}

/**
 * Linears that read the same input share one Hessian: q/k/v, and gate/up (or each expert's w1/w3,
 * on the tokens routed to it).
 */
function inputGroups(cfg: ModelConfig): InputGroup[] {
  const h = cfg.hiddenSize;
  const attention = [
    { name: 'attn_in', dim: h, members: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'] },
    { name: 'o_in', dim: cfg.numHeads * cfg.headDim, members: ['self_attn.o_proj'] },
  ];
  if (!cfg.moe)
    return [...attention, { name: 'mlp_in', dim: h, members: ['mlp.gate_proj', 'mlp.up_proj'] }, { name: 'down_in', dim: cfg.intermediateSize, members: ['mlp.down_proj'] }];
  return [...attention, ...Array.from({ length: cfg.moe.experts }, (_, e) => [
    { name: `expert${e}_in`, dim: h, members: [expertLinear(e, 'w1'), expertLinear(e, 'w3')], routed: true },
    { name: `expert${e}_down`, dim: cfg.intermediateSize, members: [expertLinear(e, 'w2')], routed: true },
  ]).flat()];
}

export const LLAMA: Architecture = {
  name: 'llama',
  linearNames,
  inputGroups,
  downProjection: 'mlp.down_proj',
  linearWeightName: (layer, linear) => blockTensorName(layer, `${linear}.weight`),
  parseLinearWeightName,
  expectedTensors,
  loadBlock,
  loadModel,
  embed: (be, model, ids) => embedTokens(be, model, ids),
  embedFromSource(cfg, src, be, batches) {
    const table = uploadTensor(be, src, 'model.embed_tokens.weight');
    const xs = batches.map((b) => be.embedding(table, b.ids));
    be.free(table);
    return xs;
  },
  blockForward,
  head: headLogits,
  blockTensors: (b) => {
    const block = b as LlamaBlock;
    return [block.inputNorm, block.postNorm, ...(block.router ? [block.router] : [])];
  },
};
