/**
 * Loader of the native CPU kernels (C++ in this folder, built by `npm install` through node-gyp).
 * `native` is null when the addon is missing, and every caller then uses its TypeScript
 * fallback. Set LOWBIT_NATIVE=0 to force the fallback (tests compare the two). Outside Node (a
 * browser) there is no addon: Node's modules are reached through process.getBuiltinModule, so
 * this file loads anywhere.
 */
import { hostEnv, nodeBuiltin } from '../io/node-files.js';

export interface NativeKernels {
  sgemm(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number,
        A: Float32Array, offA: number, lda: number, B: Float32Array, offB: number, ldb: number,
        beta: number, C: Float32Array, offC: number, ldc: number): void;
  dgemm(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number,
        A: Float64Array, offA: number, lda: number, B: Float64Array, offB: number, ldb: number,
        beta: number, C: Float64Array, offC: number, ldc: number): void;
  attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, batch: number,
            seqLen: number, heads: number, kvHeads: number, headDim: number, scale: number,
            window: number): void;
  nllRows(logits: Float32Array, rows: number, vocab: number, targets: Int32Array, out: Float32Array): void;
  siluMul(gate: Float32Array, up: Float32Array, out: Float32Array, n: number): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  rmsNorm(x: Float32Array, w: Float32Array, out: Float32Array, rows: number, d: number, eps: number): void;
  rope(x: Float32Array, cos: Float32Array, sin: Float32Array, out: Float32Array, rows: number, seqLen: number, heads: number, headDim: number): void;
  actQuant(x: Float32Array, out: Float32Array, rows: number, width: number, bits: number, clip: number, symmetric: boolean): void;
  rtnGroupGrid(w: Float32Array, rows: number, cols: number, groupSize: number, bits: number, symmetric: boolean,
               codes: Uint8Array, scales: Float32Array, zeros: Uint8Array): void;
  adpqGroups(w: Float32Array, salient: Uint8Array, rows: number, cols: number, groupSize: number, bits: number, symmetric: boolean,
             salientF16: boolean, codes: Uint8Array, scales: Float32Array, zeros: Uint8Array, salientScales: Float32Array, salientZeros: Uint8Array): void;
  topKByMagnitude(w: Float32Array, n: number, k: number, mask: Uint8Array): number;
  bf16ToF32(src: Uint16Array, out: Float32Array, n: number): void;
  firstNonFinite(x: Float32Array, n: number): number;
  dequantizeGroupGrid(codes: Uint8Array, scales: Float32Array, zeros: Uint8Array, rows: number, cols: number, groupSize: number, out: Float32Array): void;
  squaredErrorSums(w: Float32Array, q: Float32Array, n: number): [number, number];
  dequantizeAdpq(codes: Uint8Array, salient: Uint8Array, scales: Float32Array, zeros: Uint8Array, salientScales: Float32Array,
                 salientZeros: Uint8Array, rows: number, cols: number, groupSize: number, out: Float32Array): void;
  salientPositions(mask: Uint8Array, rows: number, cols: number, groupSize: number, counts: Int32Array, index: Int32Array): number;
  /** ggml's reference quantizer of a 256-weight block type (Q4_K, Q6_K); false (nothing written) for other types. */
  ggmlQuantize(typeId: number, x: Float32Array, n: number, out: Uint8Array, blockBytes: number): boolean;
  packBitsU8(values: Uint8Array, n: number, width: number, out: Uint8Array): void;
  maxU8(values: Uint8Array, n: number): number;
  choleskyLower(a: Float64Array, n: number): number;
  invertLower(l: Float64Array, n: number): void;
  /** f32 FMA throughput of all threads, GFLOP/s (0 without AVX2). */
  fmaPeak(iterations: number): number;
  info(threads?: number): { simd: boolean; threads: number };
}

function load(): NativeKernels | null {
  if (hostEnv('LOWBIT_NATIVE') === '0') return null;
  const nodeModule = nodeBuiltin<typeof import('node:module')>('node:module');
  const fs = nodeBuiltin<typeof import('node:fs')>('node:fs'), url = nodeBuiltin<typeof import('node:url')>('node:url');
  if (!nodeModule || !fs || !url) return null;
  // dist/src/native/index.js and src/native/index.ts both sit 2-3 levels under the package root.
  const candidates = ['../../build/Release/lowbit_native.node', '../../../build/Release/lowbit_native.node']
    .map((rel) => url.fileURLToPath(new URL(rel, import.meta.url)));
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) return null;
  try {
    return nodeModule.createRequire(import.meta.url)(file) as NativeKernels;
  } catch {
    return null;
  }
}

export const native: NativeKernels | null = load();

/** A short description of the kernels in use, for reports. */
export function kernelDescription(): string {
  if (!native) return 'TypeScript kernels (native addon not built)';
  const { simd, threads } = native.info();
  return `native C++ kernels (${simd ? 'AVX2+FMA' : 'portable'}, ${threads} threads)`;
}
