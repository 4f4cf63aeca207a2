/**
 * GPTQ time per layer at Llama-2-7B shapes on the CPU, with H from synthetic "real-looking"
 * activations (correlated features, a few outlier channels 20x larger, as LLM activations have),
 * and the extrapolation to a whole 7B model (32 blocks of q/k/v/o 4096x4096, gate/up 11008x4096,
 * down 4096x11008).
 */
import { sgemm } from '../src/linalg/gemm.js';
import { seededRandom } from '../src/calib/sample.js';
import { gptqQuantize } from '../src/quant/methods/gptq.js';
import type { MachineLimits } from './machine.js';

export function gaussian(n: number, scale: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** H = X^T X for n tokens of `cols` features: a shared low-rank component plus noise, every 97th channel 20x. */
export function syntheticHessian(cols: number, tokens: number, seed: number): Float64Array {
  const rank = 64;
  const z = gaussian(tokens * rank, 1, seed), mix = gaussian(rank * cols, 0.5, seed + 1);
  const x = gaussian(tokens * cols, 1, seed + 2);
  sgemm({ m: tokens, n: cols, k: rank, beta: 1 }, { data: z }, { data: mix }, { data: x });
  for (let t = 0; t < tokens; t++) for (let j = 0; j < cols; j += 97) x[t * cols + j] *= 20;
  const h = new Float32Array(cols * cols);
  sgemm({ m: cols, n: cols, k: tokens, transA: true }, { data: x }, { data: x }, { data: h });
  return Float64Array.from(h);
}

export const LLAMA7B = { blocks: 32, layers: [[4096, 4096, 4], [11008, 4096, 2], [4096, 11008, 1]] as [number, number, number][] };

export async function benchGptq(_limits: MachineLimits): Promise<Record<string, number>> {
  console.log('\nGPTQ per layer (4-bit, group 128, block 128, CPU; H from 2048 synthetic tokens):');
  const out: Record<string, number> = {};
  let total = 0;
  for (const [rows, cols, perBlock] of LLAMA7B.layers) {
    const h = syntheticHessian(cols, 2048, cols);
    const w = gaussian(rows * cols, 0.02, rows);
    const t = performance.now();
    gptqQuantize(w, rows, cols, h, { bits: 4, groupSize: 128, symmetric: false, damp: 0.01, actOrder: false, blockSize: 128 });
    const s = (performance.now() - t) / 1000;
    out[`gptq_${rows}x${cols}_s`] = s;
    total += s * perBlock * LLAMA7B.blocks;
    console.log(`  ${rows}x${cols}: ${s.toFixed(2)} s/layer (${((rows * cols) / s / 1e6).toFixed(1)} M params/s)`);
  }
  out.gptq_7b_solve_minutes = total / 60;
  console.log(`  Llama-2-7B extrapolation: ${(total / 60).toFixed(1)} min of GPTQ solves (32 x [4 x 4096x4096 + 2 x 11008x4096 + 4096x11008]),`);
  console.log('  not counting the calibration forward passes, which dominate on a CPU.');
  return out;
}
