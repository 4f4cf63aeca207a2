/** Evaluation of a model directory (original or quantized) on a text file. */
import { loadModel, type Model } from '../arch/llama.js';
import type { Backend } from '../backend/index.js';
import { openModelDir, type ModelDir } from '../export/reader.js';
import { applyManifestRuntime } from '../export/runtime.js';
import { tokenizeFile } from '../io/tokenizer.js';
import { perplexity, type PerplexityResult } from './perplexity.js';

export interface EvalRequest {
  modelDir: string;
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

/** Opens `dir` and loads it onto the backend (dequantizing quantized layers). */
export function loadModelDir(be: Backend, dir: string, onLoad?: (done: number, total: number) => void): { model: Model; info: ModelDir } {
  const info = openModelDir(dir);
  try {
    const model = loadModel(info.config, info.source, be, { onTensor: (_n, d, t) => onLoad?.(d, t) });
    applyManifestRuntime(be, model, info);
    return { model, info };
  } finally {
    info.close();
  }
}

export async function evaluate(be: Backend, req: EvalRequest): Promise<EvalReport> {
  const { model, info } = loadModelDir(be, req.modelDir, req.onLoad);
  const tokens = tokenizeFile(info.tokenizer(), req.dataFile);
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
