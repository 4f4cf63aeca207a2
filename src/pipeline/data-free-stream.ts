/**
 * The streaming loop of data-free quantization (RTN, AdpQ), apart from where it runs: the
 * checkpoint is read one tensor at a time; each block linear weight goes to a `JobRunner` (Node's
 * worker threads in data-free.ts, a page's Web Workers in web/), results are written in order, and
 * every other tensor is copied as stored. At most two results per runner slot wait in memory, so
 * peak memory is a few tensors whatever the model's size. Imports no Node module: the browser
 * build runs this same loop, which is why its GGUF equals `lowbit quantize`'s byte for byte.
 */
import type { RuntimeSpec } from '../arch/layers.js';
import { architectureOf, validateTensors } from '../arch/architecture.js';
import { NO_RUNTIME, manifestRuntime, runtimeSource } from './runtime.js';
import type { ModelDir } from '../export/reader.js';
import type { LowbitManifest } from '../export/manifest.js';
import type { ModelSink } from '../export/sink.js';
import type { ModelInfo } from '../export/writer.js';
import type { ModelConfig } from '../arch/config.js';
import type { GgufOutput } from '../export/gguf/plan.js';
import { Checkpoint } from '../io/checkpoint.js';
import type { DataFreeMethod, QuantOptions } from '../quant/method.js';
import { LowbitError } from '../util/errors.js';
import { copyTensor } from './passthrough.js';
import type { WorkerJob, WorkerReply } from './data-free-job.js';

export interface DataFreeRun {
  method: DataFreeMethod;
  options: QuantOptions;
  /** Activation quantization and rotation of the quantized model (default: none). */
  runtime?: RuntimeSpec;
  /** Replace an existing output directory. */
  force?: boolean;
  /** A GGUF target: one GGUF file when the output ends in .gguf, else a lowbit directory on its grids (`lowbit export` writes the file). */
  gguf?: GgufOutput;
  /** Worker threads (default: one per core). */
  workers?: number;
  /** Progress in parameters (quantized or copied). */
  onProgress?: (paramsDone: number, paramsTotal: number, tensor: string) => void;
  /** Checked before every tensor: an aborted signal stops the run, and nothing is left on disk. */
  signal?: AbortSignal;
}

/** Runs quantization jobs (each one weight tensor) somewhere: worker threads, Web Workers, or inline. */
export interface JobRunner {
  /** How many jobs run at once. */
  readonly size: number;
  run(job: Omit<WorkerJob, 'id'>): Promise<WorkerReply>;
}

/** A checkpoint prepared for streaming: what is read, in which order, and what the output records. */
export interface DataFreePlan {
  ckpt: Checkpoint;
  source: ModelDir['source'];
  names: string[];
  rotationSeed: number | null;
  info: ModelInfo & { config: ModelConfig };
}

/** Checks the model and resolves the runtime (rotation) into the tensors the loop will read. */
export function planDataFree(model: ModelDir, srcDir: string, run: DataFreeRun): DataFreePlan {
  if (model.manifest) throw new LowbitError('model is already quantized by lowbit; quantize the original checkpoint', srcDir);
  validateTensors(model.config, model.source);
  const ckpt = model.source as Checkpoint;
  const runtime = run.runtime ?? NO_RUNTIME;
  const { plan, source, config, names } = runtimeSource(ckpt, model.config, runtime);
  return {
    ckpt, source, names, rotationSeed: plan?.seed ?? null,
    info: {
      method: run.method.name, options: serialiseOptions(run.options), sourceDir: srcDir, architecture: config.family,
      runtime: manifestRuntime(runtime, plan), config,
    },
  };
}

/** Quantizes and copies every tensor of the plan into `sink`, then finishes it. */
export async function streamDataFree(srcDir: string, p: DataFreePlan, sink: ModelSink, run: DataFreeRun, runner: JobRunner): Promise<LowbitManifest> {
  const { source, names, ckpt } = p;
  const config = p.info.config;
  const count = (n: string) => source.shape(n).reduce((a, b) => a * b, 1);
  const total = names.reduce((s, n) => s + count(n), 0);
  const start = performance.now();
  // Tensors are written in name order whatever the number of workers (so the file's layout is the
  // same on every machine): quantized ones as their jobs finish, copies when all before them are
  // written. Jobs start in order; at most `window` results wait in memory.
  const window = 2 * runner.size;
  const queue: { name: string; reply: Promise<WorkerReply> | null }[] = [];
  let running = 0;
  let done = 0;
  const writeOldest = async () => {
    const { name, reply } = queue.shift()!;
    if (reply === null) copyTensor(ckpt, sink, name, source);
    else {
      const r = await reply;
      running--;
      run.signal?.throwIfAborted(); // checked after the wait, before anything more is written
      if (!r.ok) throw r.lowbit ? new LowbitError(r.problem, r.file) : new Error(r.message);
      sink.quantized(name.slice(0, -'.weight'.length), r.weight, r.weight.report);
    }
    done += count(name);
    run.onProgress?.(done, total, name);
  };
  for (const name of names) {
    run.signal?.throwIfAborted();
    if (!architectureOf(config).parseLinearWeightName(name)) {
      queue.push({ name, reply: null });
      if (running === 0) await writeOldest(); // nothing before it is still being quantized
      continue;
    }
    const ggmlType = sink.ggmlTypeFor(name, source.shape(name));
    const options = ggmlType ? { ...run.options, ggmlType } : run.options;
    queue.push({ name, reply: runner.run({ dir: srcDir, name, method: run.method.name, options, rotationSeed: p.rotationSeed }) });
    running++;
    while (running >= window) await writeOldest();
  }
  while (queue.length) await writeOldest();
  return sink.finish((performance.now() - start) / 1000, { workers: runner.size });
}

export function serialiseOptions(o: QuantOptions): Record<string, unknown> {
  return { bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric, ...o.extra };
}
