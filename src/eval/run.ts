/** Evaluation of a model directory (original or quantized) on a text file. */
import { expectedTensors, loadModel, parseLinearWeightName, type Model } from '../arch/llama.js';
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

export interface EvalRequest {
  modelDir: string;
  packed?: PackedMode;
  /** Evaluate windows longer than the model's trained context (max_position_embeddings). */
  beyondContext?: boolean;
  dataFile: string;
  seqLen: number;
  maxWindows?: number;
  batch?: number;
  onLoad?: (done: number, total: number) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface EvalReport extends PerplexityResult {
  model: string;
  data: string;
  quantized: boolean;
  method: string | null;
  bitsPerWeight: number | null;
  backend: string;
}

/** Opens `dir` and loads it onto the backend (quantized linears packed or widened: see PackedMode). */
export function loadModelDir(be: Backend, dir: string, onLoad?: (done: number, total: number) => void, mode: PackedMode = 'auto'): { model: Model; info: ModelDir } {
  return loadOpenedModel(be, openModelDir(dir), onLoad, mode);
}

/** Loads an opened model onto the backend, then closes its files. */
function loadOpenedModel(be: Backend, info: ModelDir, onLoad?: (done: number, total: number) => void, mode: PackedMode = 'auto'): { model: Model; info: ModelDir } {
  try {
    // Activation quantization and LRC's low-rank terms wrap dense layers: those models load widened.
    const canPack = !info.manifest || (!info.manifest.runtime && info.manifest.method !== 'lrc');
    let linearParams = 0;
    for (const [name, shape] of expectedTensors(info.config)) if (parseLinearWeightName(name)) linearParams += shape[0] * shape[1];
    const packed = canPack && (mode === 'auto' ? 4 * linearParams > AUTO_PACK_BYTES : mode);
    const model = loadModel(info.config, info.source, be, { onTensor: (_n, d, t) => onLoad?.(d, t), packed });
    applyManifestRuntime(be, model, info);
    return { model, info };
  } finally {
    info.close();
  }
}

/** Token ids must index the embedding: a tokenizer that disagrees with the model is a one-line error. */
export function checkTokenIds(ids: Int32Array, vocabSize: number, model: string): Int32Array {
  for (const id of ids) if (!(id >= 0 && id < vocabSize)) throw new LowbitError(`the tokenizer produced token id ${id}, outside the model's vocabulary of ${vocabSize}`, model);
  return ids;
}

export async function evaluate(be: Backend, req: EvalRequest): Promise<EvalReport> {
  const opened = openModelDir(req.modelDir);
  if (req.seqLen > opened.config.maxPositions && !req.beyondContext) {
    opened.close();
    throw new LowbitError(`--seq-len ${req.seqLen} exceeds the model's context of ${opened.config.maxPositions} positions; pass --beyond-context to evaluate anyway`, req.modelDir);
  }
  const { model, info } = loadOpenedModel(be, opened, req.onLoad, req.packed);
  const tokens = checkTokenIds(tokenizeFile(info.tokenizer(), req.dataFile), model.config.vocabSize, req.modelDir);
  const result = await perplexity(be, model, tokens, {
    seqLen: req.seqLen, maxWindows: req.maxWindows, batch: req.batch, source: req.dataFile, onProgress: req.onProgress,
  });
  return {
    model: req.modelDir,
    data: req.dataFile,
    quantized: info.manifest !== null,
    method: info.manifest?.method ?? null,
    bitsPerWeight: info.manifest?.summary.bitsPerWeight ?? null,
    backend: be.name,
    ...result,
  };
}
