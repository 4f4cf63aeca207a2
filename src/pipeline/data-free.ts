/**
 * Streaming quantization for data-free methods (RTN, AdpQ) in Node: the loop of
 * data-free-stream.ts with a pool of worker threads (one per core) quantizing the block linears,
 * written atomically into a lowbit directory or a GGUF file.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { openModelDir } from '../export/reader.js';
import type { LowbitManifest } from '../export/manifest.js';
import { checkOutputDir } from './atomic.js';
import { writeModelOutput } from './output.js';
import type { WorkerJob, WorkerReply } from './data-free-job.js';
import { planDataFree, streamDataFree, type DataFreeRun, type JobRunner } from './data-free-stream.js';

export type { DataFreeRun };
export { serialiseOptions } from './data-free-stream.js';

/** A fixed pool of quantization workers; `run` resolves with the worker's reply. */
class WorkerPool implements JobRunner {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly pending = new Map<number, (r: WorkerReply) => void>();
  private nextId = 0;

  constructor(readonly size: number) {
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
  const pool = new WorkerPool(Math.max(1, run.workers ?? os.availableParallelism()));
  try {
    const plan = planDataFree(model, srcDir, run);
    return await writeModelOutput(outDir, plan.info, run.gguf, run.force, (sink) => streamDataFree(srcDir, plan, sink, run, pool));
  } finally {
    await pool.close();
    model.close();
  }
}
