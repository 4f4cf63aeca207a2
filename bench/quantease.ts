/**
 * QuantEase sweep time at Llama-2-7B shapes on the CPU: one coordinate-descent sweep costs
 * 2 x rows x cols^2 flops (the GEMMs that keep W_hat S current), so it is reported as GFLOP/s
 * against the machine's peak, next to GPTQ's time for the same layer.
 */
import { quanteaseQuantize } from '../src/quant/methods/quantease.js';
import { gptqQuantize } from '../src/quant/methods/gptq.js';
import type { MachineLimits } from './machine.js';
import { gaussian, syntheticHessian } from './gptq.js';

export async function benchQuantease(limits: MachineLimits): Promise<Record<string, number>> {
  console.log('\nQuantEase per layer (3-bit, group 128, act-order; H from 2048 synthetic tokens):');
  const out: Record<string, number> = {};
  for (const [rows, cols] of [[4096, 4096], [11008, 4096]]) {
    const h = syntheticHessian(cols, 2048, cols);
    const w = gaussian(rows * cols, 0.02, rows + 1);
    const run = (iterations: number) => {
      const t = performance.now();
      quanteaseQuantize(w, rows, cols, h, { bits: 3, groupSize: 128, symmetric: false, iterations, relaxEvery: 3, actOrder: true, tolerance: 0, outlierRatio: 0, outlierStructure: 'entry' });
      return (performance.now() - t) / 1000;
    };
    const setup = run(0), sweeps = 3;
    const sweep = (run(sweeps) - setup) / sweeps;
    const gflops = (2 * rows * cols * cols) / sweep / 1e9;
    const t = performance.now();
    gptqQuantize(w, rows, cols, h, { bits: 3, groupSize: 128, symmetric: false, damp: 0.01, actOrder: true, blockSize: 128 });
    const gptq = (performance.now() - t) / 1000;
    Object.assign(out, { [`quantease_${rows}x${cols}_sweep_s`]: sweep, [`quantease_${rows}x${cols}_gflops`]: gflops, [`gptq_${rows}x${cols}_s`]: gptq });
    console.log(`  ${rows}x${cols}: ${sweep.toFixed(2)} s/sweep = ${gflops.toFixed(0)} GFLOP/s (${((100 * gflops) / limits.peakGflops).toFixed(0)}% of peak), ` +
      `setup ${setup.toFixed(2)} s; 30 sweeps ${(setup + 30 * sweep).toFixed(0)} s vs GPTQ ${gptq.toFixed(2)} s on the same layer`);
  }
  return out;
}
