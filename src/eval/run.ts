/** Evaluation of a model directory (original or quantized) on a text file. */
import type { Model } from '../arch/layers.js';
import { architectureOf } from '../arch/architecture.js';
import type { Backend } from '../backend/index.js';
import { openModelDir, type ModelDir } from '../export/reader.js';
import { applyManifestRuntime } from '../export/runtime.js';
import { tokenizeFile } from '../io/tokenizer.js';
import { perplexity, type PerplexityResult } from './perplexity.js';
import { LowbitError } from '../util/errors.js';

/**
 * Whether quantized linears stay packed (widened one layer at a time, every forward pass) or are
 * widened once at load: 'auto' packs when the widened linears would take more than 1 GiB, so small
 * models run at full speed and large ones fit.
 */
export type PackedMode = 'auto' | boolean;

const AUTO_PACK_BYTES = 1 << 30;

/** How to evaluate: the perplexity protocol's options, and the limits on them. */
export interface EvalOptions {
  seqLen: number;
  maxWindows?: number;
  batch?: number;
  /** Evaluate windows longer than the model's trained context (max_position_embeddings). */
  beyondContext?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Stops between batches of windows (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

export interface EvalRequest extends EvalOptions {
  modelDir: string;
  packed?: PackedMode;
  dataFile: string;
  onLoad?: (done: number, total: number) => void;
}

export interface EvalReport extends PerplexityResult {
  model: string;
  data: string;
  quantized: boolean;
  method: string | null;
  bitsPerWeight: number | null;
  backend: string;
}

/** A model loaded onto a backend, with what its directory or file said about it (files already closed). */
export interface LoadedModelDir {
  model: Model;
  info: ModelDir;
}

/** Opens `dir` and loads it onto the backend (quantized linears packed or widened: see PackedMode). */
export function loadModelDir(be: Backend, dir: string, onLoad?: (done: number, total: number) => void, mode: PackedMode = 'auto', signal?: AbortSignal): LoadedModelDir {
  return loadOpenedModel(be, openModelDir(dir), onLoad, mode, signal);
}

/** Loads an opened model onto the backend, then closes its files. */
function loadOpenedModel(be: Backend, info: ModelDir, onLoad?: (done: number, total: number) => void, mode: PackedMode = 'auto', signal?: AbortSignal): LoadedModelDir {
  try {
    signal?.throwIfAborted();
    // Activation quantization and LRC's low-rank terms wrap dense layers: those models load widened.
    const canPack = !info.manifest || (!info.manifest.runtime && info.manifest.method !== 'lrc');
    let linearParams = 0;
    const arch = architectureOf(info.config);
    for (const [name, shape] of arch.expectedTensors(info.config)) if (arch.parseLinearWeightName(name)) linearParams += shape[0] * shape[1];
    const packed = canPack && (mode === 'auto' ? 4 * linearParams > AUTO_PACK_BYTES : mode);
    const onTensor = (_n: string, d: number, t: number) => {
      signal?.throwIfAborted();
      onLoad?.(d, t);
    };
    const model = arch.loadModel(info.config, info.source, be, { onTensor, packed });
    applyManifestRuntime(be, model, info);
    return { model, info };
  } finally {
    info.close();
  }
}

/** Windows longer than the trained context are refused unless asked for. */
function checkContext(seqLen: number, maxPositions: number, beyondContext: boolean | undefined, model: string): void {
  if (seqLen > maxPositions && !beyondContext)
    throw new LowbitError(`--seq-len ${seqLen} exceeds the model's context of ${maxPositions} positions; pass --beyond-context to evaluate anyway`, model);
}

/** Token ids must index the embedding: a tokenizer that disagrees with the model is a one-line error. */
export function checkTokenIds(ids: Int32Array, vocabSize: number, model: string): Int32Array {
  for (const id of ids) if (!(id >= 0 && id < vocabSize)) throw new LowbitError(`the tokenizer produced token id ${id}, outside the model's vocabulary of ${vocabSize}`, model);
  return ids;
}

/** Evaluates a model directory or file on a text file. */
export async function evaluate(be: Backend, req: EvalRequest): Promise<EvalReport> {
  const opened = openModelDir(req.modelDir);
  try {
    checkContext(req.seqLen, opened.config.maxPositions, req.beyondContext, req.modelDir);
  } catch (e) {
    opened.close();
    throw e;
  }
  const loaded = loadOpenedModel(be, opened, req.onLoad, req.packed, req.signal);
  const tokens = tokenizeFile(loaded.info.tokenizer(), req.dataFile);
  return evaluateTokens(be, loaded, req.modelDir, tokens, req.dataFile, req);
}

/** Evaluates a loaded model on token ids; `modelName` and `dataName` name them in the report and in errors. */
export async function evaluateTokens(be: Backend, loaded: LoadedModelDir, modelName: string, tokens: Int32Array, dataName: string, opts: EvalOptions): Promise<EvalReport> {
  const { model, info } = loaded;
  checkContext(opts.seqLen, model.config.maxPositions, opts.beyondContext, modelName);
  checkTokenIds(tokens, model.config.vocabSize, modelName);
  const result = await perplexity(be, model, tokens, {
    seqLen: opts.seqLen, maxWindows: opts.maxWindows, batch: opts.batch, source: dataName, onProgress: opts.onProgress, signal: opts.signal,
  });
  return {
    model: modelName,
    data: dataName,
    quantized: info.manifest !== null,
    method: info.manifest?.method ?? null,
    bitsPerWeight: info.manifest?.summary.bitsPerWeight ?? null,
    backend: be.name,
    ...result,
  };
}
