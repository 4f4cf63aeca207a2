/** What the machine can do: the limits the benchmark figures are compared against. */
import os from 'node:os';
import { native, kernelDescription } from '../src/native/index.js';

export interface MachineLimits {
  cpu: string;
  cores: number;
  /** Measured f32 FMA throughput of all cores (GFLOP/s). */
  peakGflops: number;
  /** The same on one core. */
  peakGflopsOneCore: number;
  /** Measured memory bandwidth of a large copy (GB/s, read + write). */
  copyGBs: number;
  kernels: string;
}

function copyBandwidth(): number {
  const n = 64 * 1024 * 1024; // 256 MiB of f32: far beyond the caches
  const src = new Float32Array(n).fill(1), dst = new Float32Array(n);
  dst.set(src);
  const t = performance.now();
  for (let r = 0; r < 3; r++) dst.set(src);
  return (3 * 2 * 4 * n) / ((performance.now() - t) / 1000) / 1e9;
}

export function measureMachine(): MachineLimits {
  const cores = os.cpus().length;
  let peak = 0, one = 0;
  if (native) {
    const threads = native.info().threads;
    native.fmaPeak(1e7); // wake the cores up
    peak = Math.max(native.fmaPeak(3e7), native.fmaPeak(3e7));
    native.info(1);
    one = native.fmaPeak(3e7);
    native.info(threads);
  }
  return { cpu: os.cpus()[0]?.model ?? 'unknown', cores, peakGflops: peak, peakGflopsOneCore: one, copyGBs: copyBandwidth(), kernels: kernelDescription() };
}

export function printMachine(m: MachineLimits): void {
  console.log(`machine: ${m.cpu}, ${m.cores} cores; ${m.kernels}`);
  console.log(`  f32 FMA peak (measured, independent FMA chains): ${m.peakGflops.toFixed(1)} GFLOP/s on ${m.cores} cores, ${m.peakGflopsOneCore.toFixed(1)} on one`);
  console.log(`  memory copy bandwidth (measured, 256 MiB): ${m.copyGBs.toFixed(1)} GB/s`);
}
