/**
 * Worker thread of the streaming data-free quantizer: reads one weight tensor from the checkpoint,
 * quantizes it, measures its error, bit-packs the saved tensors as the file stores them and posts
 * them back (transferred, not copied). Each worker holds one tensor at a time, in buffers it reuses
 * (Scratch), so memory stays bounded by (workers x largest tensor).
 */
import { parentPort } from 'node:worker_threads';
import v8 from 'node:v8';
import vm from 'node:vm';
import { readFinite } from '../arch/layers.js';
import { openModelCheckpoint } from '../arch/checkpoint.js';
import type { TensorSource } from '../io/tensor-source.js';
import { loadConfig } from '../arch/config.js';
import { runtimeSource } from './runtime.js';
import { METHODS } from '../quant/registry.js';
import type { QuantOptions } from '../quant/method.js';
import { LowbitError } from '../util/errors.js';
import { relativeError, type WorkerJob, type WorkerReply } from './data-free-job.js';
import { Scratch } from '../io/scratch.js';
import { storedPart } from '../quant/types.js';
import { packedWeight } from '../export/packing.js';

/** The tensor being quantized and its dequantized copy, in buffers kept from one tensor to the next. */
const scratch = new Scratch();

const sources = new Map<string, TensorSource>();

/** The checkpoint of `dir`, seen through the rotation when one is asked for (opened once per worker). */
function sourceFor(dir: string, rotationSeed: number | null): TensorSource {
  const key = `${dir}\u0000${rotationSeed}`;
  let src = sources.get(key);
  if (!src) {
    const cfg = loadConfig(dir);
    const ckpt = openModelCheckpoint(dir, cfg);
    src = rotationSeed === null ? ckpt : runtimeSource(ckpt, cfg, { activation: null, rotation: { seed: rotationSeed } }).source;
    sources.set(key, src);
  }
  return src;
}

/**
 * A full GC after each tensor. A tensor's transient buffers (f32 copy, dequantized weight, masks)
 * live outside the JS heap, and V8 lets ~64 MB+ of such garbage pile up per isolate before it
 * collects; with one isolate per core that would double the streaming quantizer's footprint.
 * `gc` is exposed through the documented V8 flag for this worker's own contexts.
 */
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

parentPort!.on('message', (job: WorkerJob) => {
  try {
    const ckpt = sourceFor(job.dir, job.rotationSeed);
    const method = METHODS[job.method];
    if (method.kind !== 'data-free') throw new Error(`${job.method} is not data-free`);
    const [rows, cols] = ckpt.shape(job.name);
    const w = readFinite(ckpt, job.name, scratch);
    const q = method.quantize(w, rows, cols, job.options as QuantOptions);
    const report = { ...q.report, weightRelError: relativeError(w, q.dequantize(scratch.f32('dequantized', rows * cols))) };
    const weight = packedWeight({ ...storedPart(q), report });
    const reply: WorkerReply = { id: job.id, ok: true, weight };
    parentPort!.postMessage(reply, [...new Set(Object.values(weight.tensors).map((t) => t.data.buffer as ArrayBuffer))]);
    collectGarbage();
  } catch (e) {
    const reply: WorkerReply = e instanceof LowbitError
      ? { id: job.id, ok: false, message: e.message, lowbit: true, problem: e.problem, file: e.file }
      : { id: job.id, ok: false, message: (e as Error).message, lowbit: false };
    parentPort!.postMessage(reply);
  }
});
