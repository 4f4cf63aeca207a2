/**
 * The OPT decoder (OPTForCausalLM), as Hugging Face's modeling_opt.py computes it, in f32:
 *
 *   x = project_in(embed_tokens(ids)) + embed_positions(position + 2)
 *   pre-LayerNorm blocks (do_layer_norm_before, OPT >= 1.3b):
 *       x += out_proj(attn(q_proj h, k_proj h, v_proj h))      h = self_attn_layer_norm(x)
 *       x += fc2(relu(fc1 h))                                   h = final_layer_norm(x)
 *   post-LayerNorm blocks (OPT-350m):
 *       x = self_attn_layer_norm(x + out_proj(attn(...x...)))
 *       x = final_layer_norm(x + fc2(relu(fc1 x)))
 *   logits = lm_head(project_out(final_layer_norm(x)))     (lm_head tied to embed_tokens)
 *
 * LayerNorms have weights and biases, every linear a bias; positions are learned (the table's
 * first two rows are an offset OPT keeps for historical reasons); no RoPE, full multi-head attention.
 * project_in/project_out (when word_embed_proj_dim differs from hidden_size) stay in full precision,
 * as GPTQ's and QuantEase's OPT code leave them: only the six linears of each block are quantized.
 */
import type { Backend, Tensor } from '../backend/index.js';
import type { PackedTensor, TensorSource } from '../io/tensor-source.js';
import type { ModelConfig, OptLayout } from './config.js';
import type { Architecture } from './architecture.js';
import {
  DenseLinear, packedLinear, modelLoaders, uploadTensor,
  type Block, type LayerCache, type Linear, type LinearObserver, type LoadOptions, type Model, type WindowShape,
} from './layers.js';

export const OPT_LINEAR_NAMES = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.out_proj', 'fc1', 'fc2'] as const;
type OptLinearName = (typeof OPT_LINEAR_NAMES)[number];

/** OPT's learned positions start at row 2 of embed_positions. */
const POSITION_OFFSET = 2;

interface LayerNorm {
  weight: Tensor;
  bias: Tensor;
}

export interface OptBlock extends Block {
  attnNorm: LayerNorm;
  mlpNorm: LayerNorm;
  linears: Record<OptLinearName, Linear>;
}

/** What turns token ids into block 0's input. */
interface OptEmbedding {
  tokens: Tensor;
  positions: Tensor;
  projectIn: Linear | null;
}

export interface OptModel extends Model {
  embedding: OptEmbedding;
  blocks: OptBlock[];
  finalNorm: LayerNorm | null;
  projectOut: Linear | null;
  lmHead: Linear;
}

const D = 'model.decoder.';
const layerName = (layer: number, what: string) => `${D}layers.${layer}.${what}`;
const LINEAR_WEIGHT = /^model\.decoder\.layers\.(\d+)\.(self_attn\.(?:[qkv]_proj|out_proj)|fc1|fc2)\.weight$/;

function layout(cfg: ModelConfig): OptLayout {
  if (!cfg.opt) throw new Error('not an OPT config');
  return cfg.opt;
}

function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const { hiddenSize: h, intermediateSize: f, vocabSize: v, maxPositions } = cfg;
  const o = layout(cfg), p = o.wordEmbedProjDim;
  const t = new Map<string, number[]>();
  t.set(`${D}embed_tokens.weight`, [v, p]);
  t.set(`${D}embed_positions.weight`, [maxPositions + POSITION_OFFSET, h]);
  if (p !== h) {
    t.set(`${D}project_in.weight`, [h, p]);
    t.set(`${D}project_out.weight`, [p, h]);
  }
  if (o.finalLayerNorm) for (const x of ['weight', 'bias']) t.set(`${D}final_layer_norm.${x}`, [h]);
  if (!cfg.tieWordEmbeddings) t.set('lm_head.weight', [v, p]);
  const shapes: Record<OptLinearName, [number, number]> = {
    'self_attn.q_proj': [h, h], 'self_attn.k_proj': [h, h], 'self_attn.v_proj': [h, h], 'self_attn.out_proj': [h, h], fc1: [f, h], fc2: [h, f],
  };
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const norm of ['self_attn_layer_norm', 'final_layer_norm']) for (const x of ['weight', 'bias']) t.set(layerName(l, `${norm}.${x}`), [h]);
    for (const name of OPT_LINEAR_NAMES) {
      t.set(layerName(l, `${name}.weight`), shapes[name]);
      if (cfg.bias.qkv) t.set(layerName(l, `${name}.bias`), [shapes[name][0]]);
    }
  }
  return t;
}

function loadBlock(cfg: ModelConfig, src: TensorSource, be: Backend, layer: number, load = (n: string) => uploadTensor(be, src, n),
  loadPacked: (n: string) => PackedTensor | null = () => null): OptBlock {
  const linears = {} as Record<OptLinearName, Linear>;
  for (const name of OPT_LINEAR_NAMES) {
    const weightName = layerName(layer, `${name}.weight`);
    const bias = cfg.bias.qkv ? load(layerName(layer, `${name}.bias`)) : undefined;
    const p = loadPacked(weightName);
    linears[name] = p ? packedLinear(be, p, bias) : new DenseLinear(load(weightName), bias);
  }
  const norm = (which: string): LayerNorm => ({ weight: load(layerName(layer, `${which}.weight`)), bias: load(layerName(layer, `${which}.bias`)) });
  return { window: 0, attnNorm: norm('self_attn_layer_norm'), mlpNorm: norm('final_layer_norm'), linears };
}

function loadEmbedding(cfg: ModelConfig, load: (n: string) => Tensor): OptEmbedding {
  const projected = layout(cfg).wordEmbedProjDim !== cfg.hiddenSize;
  return {
    tokens: load(`${D}embed_tokens.weight`),
    positions: load(`${D}embed_positions.weight`),
    projectIn: projected ? new DenseLinear(load(`${D}project_in.weight`)) : null,
  };
}

function loadModel(cfg: ModelConfig, src: TensorSource, be: Backend, opts: LoadOptions = {}): OptModel {
  const { load, loadPacked } = modelLoaders(expectedTensors(cfg), src, be, opts);
  const embedding = loadEmbedding(cfg, load);
  const blocks: OptBlock[] = [];
  for (let l = 0; l < cfg.numLayers; l++) blocks.push(loadBlock(cfg, src, be, l, load, loadPacked));
  const o = layout(cfg);
  const finalNorm = o.finalLayerNorm ? { weight: load(`${D}final_layer_norm.weight`), bias: load(`${D}final_layer_norm.bias`) } : null;
  const projectOut = embedding.projectIn ? new DenseLinear(load(`${D}project_out.weight`)) : null;
  const lmHead = new DenseLinear(cfg.tieWordEmbeddings ? embedding.tokens : load('lm_head.weight'));
  return { config: cfg, embedding, blocks, finalNorm, projectOut, lmHead };
}

/** Token embeddings (projected to the hidden width) plus the learned embeddings of positions past.. in each window. */
function embedWith(be: Backend, e: OptEmbedding, ids: Int32Array, shape: WindowShape, past = 0): Tensor {
  let x = be.embedding(e.tokens, ids);
  if (e.projectIn) {
    const projected = e.projectIn.forward(be, x);
    be.free(x);
    x = projected;
  }
  const positions = Int32Array.from(ids, (_, i) => past + (i % shape.seqLen) + POSITION_OFFSET);
  const pos = be.embedding(e.positions, positions);
  const out = be.add(x, pos);
  be.free(x);
  be.free(pos);
  return out;
}

function layerNorm(be: Backend, cfg: ModelConfig, x: Tensor, n: LayerNorm): Tensor {
  return be.layerNorm(x, n.weight, n.bias, cfg.rmsNormEps);
}

/** Multi-head causal self-attention and out_proj of the (normalised) input h. */
function attention(be: Backend, cfg: ModelConfig, block: OptBlock, h: Tensor, shape: WindowShape, run: (name: OptLinearName, input: Tensor) => Tensor, cache?: LayerCache): Tensor {
  const q = run('self_attn.q_proj', h), k = run('self_attn.k_proj', h), v = run('self_attn.v_proj', h);
  const heads = { heads: cfg.numHeads, kvHeads: cfg.numKvHeads, headDim: cfg.headDim };
  let attn: Tensor;
  if (cache) {
    const kAll = cache.k ? be.concatRows(cache.k, k) : k, vAll = cache.v ? be.concatRows(cache.v, v) : v;
    attn = be.attendCached(q, kAll, vAll, { ...heads, past: cache.past, window: 0 });
    for (const t of [cache.k, cache.v, ...(cache.k ? [k, v] : [])]) if (t) be.free(t);
    Object.assign(cache, { k: kAll, v: vAll, past: cache.past + shape.seqLen });
  } else {
    attn = be.attention(q, k, v, { batch: shape.batch, seqLen: shape.seqLen, ...heads, window: 0 });
    be.free(k);
    be.free(v);
  }
  be.free(q);
  const o = run('self_attn.out_proj', attn);
  be.free(attn);
  return o;
}

function mlp(be: Backend, h: Tensor, run: (name: OptLinearName, input: Tensor) => Tensor): Tensor {
  const up = run('fc1', h);
  const act = be.relu(up);
  be.free(up);
  const down = run('fc2', act);
  be.free(act);
  return down;
}

/** x + f(x) with x kept (the residual), then the sum normalised when the block is post-LayerNorm. */
function residual(be: Backend, cfg: ModelConfig, x: Tensor, norm: LayerNorm, f: (h: Tensor) => Tensor): Tensor {
  const pre = layout(cfg).layerNormBefore;
  const h = pre ? layerNorm(be, cfg, x, norm) : x;
  const y = f(h);
  if (pre) be.free(h);
  const sum = be.add(x, y);
  be.free(y);
  if (pre) return sum;
  const out = layerNorm(be, cfg, sum, norm);
  be.free(sum);
  return out;
}

function blockForward(be: Backend, cfg: ModelConfig, b: Block, x: Tensor, shape: WindowShape, observe?: LinearObserver, cache?: LayerCache): Tensor {
  const block = b as OptBlock;
  const run = (name: OptLinearName, input: Tensor): Tensor => {
    observe?.(name, input);
    return block.linears[name].forward(be, input);
  };
  const x1 = residual(be, cfg, x, block.attnNorm, (h) => attention(be, cfg, block, h, shape, run, cache));
  const x2 = residual(be, cfg, x1, block.mlpNorm, (h) => mlp(be, h, run));
  be.free(x1);
  return x2;
}

function head(be: Backend, m: Model, x: Tensor): Tensor {
  const model = m as OptModel;
  let h = model.finalNorm ? layerNorm(be, model.config, x, model.finalNorm) : x;
  if (model.projectOut) {
    const projected = model.projectOut.forward(be, h);
    if (h !== x) be.free(h);
    h = projected;
  }
  const logits = model.lmHead.forward(be, h);
  if (h !== x) be.free(h);
  return logits;
}

export const OPT: Architecture = {
  name: 'opt',
  linearNames: () => OPT_LINEAR_NAMES,
  inputGroups: (cfg) => [
    { name: 'attn_in', dim: cfg.hiddenSize, members: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'] },
    { name: 'o_in', dim: cfg.hiddenSize, members: ['self_attn.out_proj'] },
    { name: 'mlp_in', dim: cfg.hiddenSize, members: ['fc1'] },
    { name: 'down_in', dim: cfg.intermediateSize, members: ['fc2'] },
  ],
  downProjection: null,
  linearWeightName: (layer, linear) => layerName(layer, `${linear}.weight`),
  parseLinearWeightName(name) {
    const m = LINEAR_WEIGHT.exec(name);
    return m ? { layer: Number(m[1]), linear: m[2] } : null;
  },
  expectedTensors,
  loadBlock,
  loadModel,
  embed: (be, model, ids, shape, past) => embedWith(be, (model as OptModel).embedding, ids, shape, past),
  embedFromSource(cfg, src, be, batches) {
    const loaded: Tensor[] = [];
    const e = loadEmbedding(cfg, (n) => {
      const t = uploadTensor(be, src, n);
      loaded.push(t);
      return t;
    });
    const xs = batches.map((b) => embedWith(be, e, b.ids, b.shape));
    for (const t of loaded) be.free(t);
    return xs;
  },
  blockForward,
  head,
  blockTensors: (b) => [(b as OptBlock).attnNorm.weight, (b as OptBlock).attnNorm.bias, (b as OptBlock).mlpNorm.weight, (b as OptBlock).mlpNorm.bias],
};
