/** Messages between the streaming quantizer and its workers, and helpers both sides use. */
import type { StoredWeight } from '../quant/types.js';
import { native } from '../native/index.js';

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
