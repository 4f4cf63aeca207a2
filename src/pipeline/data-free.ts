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
import { planDataFree, streamDataFree, type DataFreeRun } from './data-free-stream.js';
import { JobPool, type JobPort } from './job-pool.js';

export type { DataFreeRun };
export { serialiseOptions } from './data-free-stream.js';

/** Node's worker threads (data-free-worker.ts), one per core by default, as the pool's ports. */
function threadPool(size: number): JobPool {
  return new JobPool(Array.from({ length: size }, (): JobPort => {
    const w = new Worker(new URL('./data-free-worker.js', import.meta.url));
    return {
      send: (job) => w.postMessage(job),
      listen: (onReply, onError) => {
        w.on('message', onReply);
        w.on('error', (e) => onError(e.message));
      },
      terminate: () => w.terminate(),
    };
  }));
}

export async function quantizeDataFree(srcDir: string, outDir: string, run: DataFreeRun): Promise<LowbitManifest> {
  checkOutputDir(outDir, { overwrite: run.force, inputs: [srcDir] });
  const model = openModelDir(srcDir);
  const pool = threadPool(Math.max(1, run.workers ?? os.availableParallelism()));
  try {
    const plan = planDataFree(model, srcDir, run);
    return await writeModelOutput(outDir, plan.info, run.gguf, run.force, (sink) => streamDataFree(srcDir, plan, sink, run, pool));
  } finally {
    await pool.close();
    model.close();
  }
}
