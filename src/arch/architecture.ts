/**
 * The seam between model families and everything that runs models: what a pipeline (quantize,
 * calibrate, evaluate, generate) needs of a decoder. A family is one file implementing
 * Architecture (llama.ts: Llama, Mistral, Qwen2, Phi-3; opt.ts: OPT) plus a line in ARCHITECTURES.
 *
 *   logits = head(blocks(embed(ids)))      each block: linears named by linearNames(config)
 */
import type { Backend, Tensor } from '../backend/index.js';
import type { PackedTensor, TensorSource } from '../io/tensor-source.js';
import type { ModelConfig } from './config.js';
import { checkTensors, type Block, type LayerCache, type LinearObserver, type LoadOptions, type Model, type WindowShape } from './layers.js';
import { LLAMA } from './llama.js';
import { OPT } from './opt.js';

/** Linear layers of a block that read the same input, and that input's width: one Hessian per group. */
export interface InputGroup {
  name: string;
  dim: number;
  members: string[];
  /** An expert's input (Mixtral): statistics over the tokens routed to it (see calibrated.ts for the fallback). */
  routed?: boolean;
}

export interface Architecture {
  readonly name: string;
  /** The block's linear layers (Hugging Face name suffixes, e.g. 'self_attn.q_proj'), in forward order. */
  linearNames(cfg: ModelConfig): readonly string[];
  /** The block's linears grouped by the input they read (calibration statistics are per group). */
  inputGroups(cfg: ModelConfig): InputGroup[];
  /** The linear whose input the QuaRot online rotation precedes (Llama's down_proj), or null when unsupported. */
  readonly downProjection: string | null;
  /** The weight tensor name of block `layer`'s linear `linear` (the inverse of parseLinearWeightName). */
  linearWeightName(layer: number, linear: string): string;
  /** Layer index and linear suffix of a block linear's weight tensor name; null for any other tensor. */
  parseLinearWeightName(name: string): { layer: number; linear: string } | null;
  /** Every tensor the config implies, with its shape (checkpoints are validated against it). */
  expectedTensors(cfg: ModelConfig): Map<string, number[]>;
  /** Loads decoder block `layer` (weights through `load`; linears kept packed where `loadPacked` gives them so). */
  loadBlock(cfg: ModelConfig, src: TensorSource, be: Backend, layer: number, load?: (name: string) => Tensor, loadPacked?: (name: string) => PackedTensor | null): Block;
  /** Every tensor of the model, loaded. */
  loadModel(cfg: ModelConfig, src: TensorSource, be: Backend, opts?: LoadOptions): Model;
  /** The hidden states that enter block 0 for `ids` (windows of shape.seqLen tokens; with `past`, positions after a cache). */
  embed(be: Backend, model: Model, ids: Int32Array, shape: WindowShape, past?: number): Tensor;
  /**
   * Only what embedding needs (calibration runs blocks one at a time): embeds ids as embed() does,
   * then frees what it loaded.
   */
  embedFromSource(cfg: ModelConfig, src: TensorSource, be: Backend, batches: { ids: Int32Array; shape: WindowShape }[]): Tensor[];
  /** One block on hidden states x [batch*seqLen, hidden]; observe sees each linear's input. */
  blockForward(be: Backend, cfg: ModelConfig, block: Block, x: Tensor, shape: WindowShape, observe?: LinearObserver, cache?: LayerCache): Tensor;
  /** Final norm (and projection) and LM head: logits [rows, vocab]. */
  head(be: Backend, model: Model, x: Tensor): Tensor;
  /** The block's own tensors besides its linears (norms), to free it. */
  blockTensors(block: Block): Tensor[];
}

const ARCHITECTURES: Record<ModelConfig['family'], Architecture> = {
  llama: LLAMA, mistral: LLAMA, qwen2: LLAMA, phi3: LLAMA, mixtral: LLAMA,
  opt: OPT,
};

export function architectureOf(cfg: Pick<ModelConfig, 'family'>): Architecture {
  return ARCHITECTURES[cfg.family];
}

/** Checks that the source holds every tensor the config implies, with the implied shape. */
export function validateTensors(cfg: ModelConfig, src: TensorSource): void {
  checkTensors(architectureOf(cfg).expectedTensors(cfg), src);
}

/** Logits of `ids` laid out as `batch` windows of `seqLen` tokens: [batch*seqLen, vocab]. */
export function forwardLogits(be: Backend, model: Model, ids: Int32Array, shape: WindowShape): Tensor {
  if (ids.length !== shape.batch * shape.seqLen) throw new Error(`expected ${shape.batch * shape.seqLen} ids, got ${ids.length}`);
  const arch = architectureOf(model.config);
  let x = arch.embed(be, model, ids, shape);
  for (const block of model.blocks) {
    const next = arch.blockForward(be, model.config, block, x, shape);
    be.free(x);
    x = next;
  }
  const logits = arch.head(be, model, x);
  be.free(x);
  return logits;
}
