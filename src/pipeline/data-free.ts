/**
 * Streaming quantization for data-free methods (RTN, AdpQ): the checkpoint is read one tensor at
 * a time; each block linear weight is quantized by a pool of worker threads (one per core) and
 * written in order, every other tensor is copied as stored. Peak memory is a few tensors (one per
 * worker plus the one being written), whatever the model's size.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RuntimeSpec } from '../arch/layers.js';
import { architectureOf, validateTensors } from '../arch/architecture.js';
import { NO_RUNTIME, manifestRuntime, runtimeSource } from './runtime.js';
import { openModelDir } from '../export/reader.js';
import type { LowbitManifest } from '../export/manifest.js';
import { checkOutputDir } from '../io/atomic.js';
import { writeModelOutput, type GgufOutput } from '../export/output.js';
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

/** A fixed pool of quantization workers; `run` resolves with the worker's reply. */
class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly pending = new Map<number, (r: WorkerReply) => void>();
  private nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./data-free-worker.js', import.meta.url));
      w.on('message', (r: WorkerReply) => {
        this.pending.get(r.id)?.(r);
        this.pending.delete(r.id);
        this.release(w);
      });
      w.on('error', (e) => {
        for (const [id, resolve] of this.pending) resolve({ id, ok: false, message: `worker failed: ${e.message}`, lowbit: false });
        this.pending.clear();
      });
      this.all.push(w);
      this.idle.push(w);
    }
  }

  async run(job: Omit<WorkerJob, 'id'>): Promise<WorkerReply> {
    while (this.idle.length === 0) await new Promise<void>((r) => this.waiting.push(r));
    const w = this.idle.pop()!;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      w.postMessage({ ...job, id });
    });
  }

  private release(w: Worker): void {
    this.idle.push(w);
    this.waiting.shift()?.();
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}

export async function quantizeDataFree(srcDir: string, outDir: string, run: DataFreeRun): Promise<LowbitManifest> {
  checkOutputDir(outDir, { overwrite: run.force, inputs: [srcDir] });
  const model = openModelDir(srcDir);
  const workers = Math.max(1, run.workers ?? os.availableParallelism());
  const pool = new WorkerPool(workers);
  try {
    if (model.manifest) throw new LowbitError('model is already quantized by lowbit; quantize the original checkpoint', srcDir);
    validateTensors(model.config, model.source);
    const ckpt = model.source as Checkpoint;
    const runtime = run.runtime ?? NO_RUNTIME;
    const { plan, source, config, names } = runtimeSource(ckpt, model.config, runtime);
    const count = (n: string) => source.shape(n).reduce((a, b) => a * b, 1);
    const total = names.reduce((s, n) => s + count(n), 0);
    const start = performance.now();
    const info = {
      method: run.method.name, options: serialiseOptions(run.options), sourceDir: srcDir, architecture: config.family,
      runtime: manifestRuntime(runtime, plan), config,
    };
    return await writeModelOutput(outDir, info, run.gguf, run.force, async (writer) => {
      // Jobs are started in order and written in order; at most `window` results wait in memory.
      const window = 2 * workers;
      const inFlight: { name: string; reply: Promise<WorkerReply> }[] = [];
      let done = 0;
      const writeOldest = async () => {
        const { name, reply } = inFlight.shift()!;
        const r = await reply;
        run.signal?.throwIfAborted(); // checked after the wait, before anything more is written
        if (!r.ok) throw r.lowbit ? new LowbitError(r.problem, r.file) : new Error(r.message);
        const q = r.weight;
        writer.quantized(name.slice(0, -'.weight'.length), q, q.report);
        done += count(name);
        run.onProgress?.(done, total, name);
      };
      for (const name of names) {
        run.signal?.throwIfAborted();
        if (architectureOf(config).parseLinearWeightName(name)) {
          const ggmlType = writer.ggmlTypeFor(name, source.shape(name));
          const options = ggmlType ? { ...run.options, ggmlType } : run.options;
          inFlight.push({ name, reply: pool.run({ dir: srcDir, name, method: run.method.name, options, rotationSeed: plan?.seed ?? null }) });
          if (inFlight.length >= window) await writeOldest();
          continue;
        }
        copyTensor(ckpt, writer, name, source);
        done += count(name);
        run.onProgress?.(done, total, name);
      }
      while (inFlight.length) await writeOldest();
      return writer.finish((performance.now() - start) / 1000, { workers });
    });
  } finally {
    await pool.close();
    model.close();
  }
}

export function serialiseOptions(o: QuantOptions): Record<string, unknown> {
  return { bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric, ...o.extra };
}
