/**
 * inspect(): what a model is (architecture, parameters, dtypes, how it was quantized) and the
 * statistics of every weight tensor. A GGUF file of an architecture lowbit does not run is still
 * described from its metadata.
 */
import fs from 'node:fs';
import { architectureOf, validateTensors } from '../arch/architecture.js';
import type { ModelConfig } from '../arch/config.js';
import { isGgufFile, summariseGguf, type GgufSummary } from '../export/gguf/reader.js';
import { ggufName } from '../export/gguf/names.js';
import { openModelDir } from '../export/reader.js';
import { Checkpoint } from '../io/checkpoint.js';
import { GgufFile } from '../io/gguf.js';
import { kernelDescription } from '../native/index.js';
import { LowbitError } from '../util/errors.js';
import { checkOptions } from '../util/options.js';
import type { QuantizationInfo } from './model.js';
import { RUN_CONTROL_KEYS, type RunControl } from './options.js';
import { reporter } from './progress.js';

export interface TensorStats {
  name: string;
  shape: number[];
  dtype: string;
  mean: number;
  std: number;
  min: number;
  max: number;
  absMax: number;
  /** Excess kurtosis: 0 for a Gaussian; large values mean heavy tails (outliers). */
  kurtosis: number;
}

/** A model lowbit can run. */
export interface ModelReport {
  model: string;
  runnable: true;
  architecture: ModelConfig['family'];
  config: ModelConfig;
  parameters: number;
  /** Parameters by stored type (bf16, a GGUF type, "quantized" for lowbit layers, ...). */
  dtypes: Record<string, number>;
  quantization: QuantizationInfo | null;
  /** For a GGUF file: its format details (the tensor list is in `tensors`). */
  gguf?: Omit<GgufSummary, 'tensors'>;
  kernels: string;
  tensors: TensorStats[];
}

/** A GGUF file lowbit cannot run (another architecture): its metadata and tensor list. */
export interface UnrunnableGgufReport {
  model: string;
  runnable: false;
  /** Why lowbit cannot run it. */
  reason: string;
  gguf: GgufSummary;
}

export type InspectResult = ModelReport | UnrunnableGgufReport;

export function tensorStats(name: string, shape: number[], dtype: string, x: Float32Array): TensorStats {
  let sum = 0, min = Infinity, max = -Infinity;
  for (const v of x) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / x.length;
  let m2 = 0, m4 = 0;
  for (const v of x) {
    const d = (v - mean) * (v - mean);
    m2 += d;
    m4 += d * d;
  }
  m2 /= x.length;
  m4 /= x.length;
  return { name, shape, dtype, mean, std: Math.sqrt(m2), min, max, absMax: Math.max(-min, max), kurtosis: m2 > 0 ? m4 / (m2 * m2) - 3 : 0 };
}

/** Describes the model directory or GGUF file at `path` (reads every weight once, for the statistics). */
export async function inspect(path: string, options: RunControl = {}): Promise<InspectResult> {
  checkOptions('inspect', {}, options, RUN_CONTROL_KEYS);
  let model: ReturnType<typeof openModelDir>;
  try {
    model = openModelDir(path);
  } catch (e) {
    // A GGUF of an architecture lowbit does not run: its metadata and tensors are still worth showing.
    if (!(e instanceof LowbitError) || !fs.existsSync(path) || !fs.statSync(path).isFile() || !isGgufFile(path)) throw e;
    const g = GgufFile.open(path);
    try {
      return { model: path, runnable: false, reason: e.message, gguf: summariseGguf(g) };
    } finally {
      g.close();
    }
  }
  try {
    validateTensors(model.config, model.source);
    const names = [...architectureOf(model.config).expectedTensors(model.config).keys()];
    const ckpt = model.source instanceof Checkpoint ? model.source : null;
    const progress = reporter(options.onProgress, 'inspect', 'tensors');
    const stats: TensorStats[] = [];
    const dtypes: Record<string, number> = {};
    let params = 0;
    for (const [i, name] of names.entries()) {
      options.signal?.throwIfAborted();
      const shape = model.source.shape(name);
      const ggufType = model.gguf?.tensors.find((t) => t.name === ggufName(name)?.name)?.type;
      const dtype = ckpt ? ckpt.info(name).dtype : ggufType ?? (model.manifest?.layers[name.replace(/\.weight$/, '')] ? 'quantized' : 'stored');
      const n = shape.reduce((a, b) => a * b, 1);
      params += n;
      dtypes[dtype] = (dtypes[dtype] ?? 0) + n;
      stats.push(tensorStats(name, shape, dtype, model.source.readF32(name)));
      progress(i + 1, names.length, name);
    }
    const m = model.manifest;
    const { tensors: _listedInStats, ...gguf } = model.gguf ?? {};
    return {
      model: path,
      runnable: true,
      architecture: model.config.family,
      config: model.config,
      parameters: params,
      dtypes,
      quantization: m && { method: m.method, options: m.options, bitsPerWeight: m.summary.bitsPerWeight, runtime: m.runtime ?? null },
      ...(model.gguf ? { gguf: gguf as Omit<GgufSummary, 'tensors'> } : {}),
      kernels: kernelDescription(),
      tensors: stats,
    };
  } finally {
    model.close();
  }
}
