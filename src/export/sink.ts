/**
 * Where a quantization pipeline puts the model it makes: a lowbit directory (writer.ts) or a GGUF
 * file (gguf/writer.ts). Pipelines feed tensors one at a time, in any order, and ask the sink
 * which ggml type a linear must be quantized onto (GGUF mixes choose per tensor).
 */
import type { DType } from '../io/safetensors.js';
import type { StoredWeight } from '../quant/types.js';
import type { LowbitManifest } from './manifest.js';

export interface ModelSink {
  /** The ggml type the named (Hugging Face) linear weight must be quantized onto, or null for lowbit's own grids. */
  ggmlTypeFor(name: string, shape: number[]): string | null;
  /** Stores an unquantized tensor as it was in the source. */
  passthrough(name: string, dtype: DType, shape: number[], bytes: Uint8Array): void;
  /** Stores a tensor computed here (e.g. a rotated embedding) as F32. */
  passthroughF32(name: string, data: Float32Array, shape: number[]): void;
  /** Stores a quantized linear layer `layer` (e.g. model.layers.0.mlp.up_proj). */
  quantized(layer: string, q: StoredWeight, report?: Record<string, number | string | boolean>): void;
  /** Completes the output and returns its description (lowbit.json's content; for GGUF, the same summary). */
  finish(seconds: number, summaryExtra?: Record<string, unknown>): LowbitManifest;
}
