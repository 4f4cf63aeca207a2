/**
 * One job of the streaming quantizer (one weight tensor), the messages that carry it, and the work
 * itself: whichever worker runs it (a Node worker thread, a page's Web Worker, or inline) calls
 * `runJob`. Imports no Node module.
 */
import { storedPart, type StoredWeight } from '../quant/types.js';
import { native } from '../native/index.js';
import { readFinite } from '../arch/layers.js';
import { openModelCheckpoint } from '../arch/checkpoint.js';
import type { TensorSource } from '../io/tensor-source.js';
import { loadConfig } from '../arch/config.js';
import { runtimeSource } from './runtime.js';
import { METHODS } from '../quant/registry.js';
import type { QuantOptions } from '../quant/method.js';
import { LowbitError } from '../util/errors.js';
import { Scratch } from '../io/scratch.js';
import { packedWeight } from '../export/packing.js';

export interface WorkerJob {
  id: number;
  dir: string;
  name: string;
  method: string;
  options: unknown;
  /** Quantize the rotated model's weights (QuaRot rotation with this seed). */
  rotationSeed: number | null;
}

export type WorkerReply =
  /** The weight with its tensors in their file form (bit-packed: export/packing.ts). */
  | { id: number; ok: true; weight: StoredWeight }
  | { id: number; ok: false; message: string; lowbit: false }
  /** A LowbitError, sent as its parts so the main thread re-throws the same error (file and problem). */
  | { id: number; ok: false; message: string; lowbit: true; problem: string; file: string | undefined };

/** ||w - q||^2 / ||w||^2 (sums in f64, in index order; natively when built). */
export function relativeError(w: Float32Array, q: Float32Array): number {
  const [num, den] = native ? native.squaredErrorSums(w, q, w.length) : squaredErrorSumsTs(w, q);
  return den > 0 ? num / den : 0;
}

export function squaredErrorSumsTs(w: Float32Array, q: Float32Array): [number, number] {
  let num = 0, den = 0;
  for (let i = 0; i < w.length; i++) {
    const d = w[i] - q[i];
    num += d * d;
    den += w[i] * w[i];
  }
  return [num, den];
}

/** The tensor being quantized and its dequantized copy, in buffers kept from one job to the next. */
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
 * Reads one weight tensor, quantizes it, measures its error and bit-packs the saved tensors as the
 * file stores them. The reply's buffers are the caller's to transfer; errors become replies.
 */
export function runJob(job: WorkerJob): WorkerReply {
  try {
    const ckpt = sourceFor(job.dir, job.rotationSeed);
    const method = METHODS[job.method];
    if (method.kind !== 'data-free') throw new Error(`${job.method} is not data-free`);
    const [rows, cols] = ckpt.shape(job.name);
    const w = readFinite(ckpt, job.name, scratch);
    const q = method.quantize(w, rows, cols, job.options as QuantOptions);
    const report = { ...q.report, weightRelError: relativeError(w, q.dequantize(scratch.f32('dequantized', rows * cols))) };
    return { id: job.id, ok: true, weight: packedWeight({ ...storedPart(q), report }) };
  } catch (e) {
    return e instanceof LowbitError
      ? { id: job.id, ok: false, message: e.message, lowbit: true, problem: e.problem, file: e.file }
      : { id: job.id, ok: false, message: (e as Error).message, lowbit: false };
  }
}

/** The buffers of a reply, to transfer rather than copy. */
export function replyBuffers(r: WorkerReply): ArrayBuffer[] {
  return r.ok ? [...new Set(Object.values(r.weight.tensors).map((t) => t.data.buffer as ArrayBuffer))] : [];
}
