/** Messages between the page (page.ts) and its quantizing worker (quantize-worker.ts). */
import type { MountedFile } from './browser-files.js';

export interface QuantizeRequest {
  kind: 'quantize';
  /** The picked folder's files, paths starting with the folder's name ("kdoc-6m/config.json"). */
  files: MountedFile[];
  /** GGUF type or llama-quantize mix (Q4_0, Q4_K_M, ...). */
  gguf: string;
  /** rtn (data-free), or a calibrated method choosing codes on the type's grids (gptq, quantease). */
  method: 'rtn' | 'gptq' | 'quantease';
  /** The calibration text for a calibrated method (never the evaluation text), and how much of it to use. */
  calib?: { file: Blob; name: string; samples: number; seqLen: number };
  /** A text to evaluate perplexity on, before and after (optional). */
  evalText?: string;
  /** Evaluation window in tokens (default: the model's context, at most 512). */
  seqLen?: number;
  /** Where calibration forward passes and perplexity run: WebGPU when the browser has it, else the CPU (TypeScript). */
  device: 'gpu' | 'cpu';
  /** Job workers quantizing tensors in parallel. */
  workers: number;
}

export type WorkerMessage =
  | { kind: 'stage'; text: string }
  | { kind: 'progress'; done: number; total: number; tensor: string }
  | { kind: 'layer'; layer: string; type: string; bitsPerWeight: number; relError: number | null }
  | { kind: 'perplexity'; which: 'before' | 'after'; perplexity: number; tokens: number; backend: string; seconds: number }
  | { kind: 'done'; gguf: Blob; name: string; bytes: number; bitsPerWeight: number; seconds: number; params: number }
  | { kind: 'error'; message: string };
