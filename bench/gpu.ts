/**
 * The WebGPU backend against the CPU backend on one machine (run where there is a GPU:
 * `npm run gpu-check` on the GPU machine; on SwiftShader it measures nothing useful):
 *   - f32 matmul throughput at 4096^3 and at a Llama-2-7B MLP shape (2048 tokens x 4096 -> 11008);
 *   - kdoc-6m forward passes (perplexity, 64 windows x 512) on each backend: tokens/s and the two
 *     perplexities;
 *   - GPTQ W4 g128 of kdoc-6m with 128 x 512 calibration tokens, calibrated on each backend:
 *     seconds, and the held-out perplexity of both models.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackend, type Backend, type Tensor } from '../src/backend/index.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { evaluate } from '../src/eval/run.js';
import { openModelDir } from '../src/export/reader.js';
import type { CalibratedMethod } from '../src/quant/method.js';
import { quantizeCalibrated } from '../src/pipeline/calibrated.js';
import { METHODS } from '../src/quant/registry.js';
import { ASSETS } from '../src/api/assets.js';
import { forwardFlopsPerToken } from './forward.js';
import type { MachineLimits } from './machine.js';

/**
 * Seconds per call of `op` (its result, if any, freed): `repeats` calls recorded back to back, then one
 * small read that waits for all of them (a read after every call would add a full host round trip to each: on the H100 that
 * halved the measured throughput of a 4096^3 product); the best of three such runs, after at least
 * half a second of warm-up (the first products after start-up ran at half speed or less on the H100,
 * its clocks still rising).
 */
export async function timed(be: Backend, op: () => Tensor | null, repeats: number): Promise<number> {
  const probe = be.upload(new Float32Array(4), [2, 2]); // read after the calls: it waits for all of them
  const run = async () => {
    const t0 = performance.now();
    for (let i = 0; i < repeats; i++) {
      const y = op();
      if (y) be.free(y);
    }
    await be.read(probe);
    return (performance.now() - t0) / 1000 / repeats;
  };
  for (const t0 = performance.now(); performance.now() - t0 < 500;) await run();
  const best = Math.min(await run(), await run(), await run());
  be.free(probe);
  return best;
}

function randomTensor(be: Backend, rows: number, cols: number): Tensor {
  const a = new Float32Array(rows * cols);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.618) * 0.5;
  return be.upload(a, [rows, cols]);
}

/**
 * f32 product throughput on the backend: 4096^3, and the products of a Llama-2-7B block at 2048
 * tokens: the MLP's linear (x W^T, 4096 -> 11008) and a Hessian X^T X (gram, 4096 wide).
 */
export async function benchMatmul(gpu: Backend): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  const a = randomTensor(gpu, 4096, 4096), b = randomTensor(gpu, 4096, 4096);
  const sq = await timed(gpu, () => gpu.matmul(a, b), 20);
  figures.matmul_4096_tflops = (2 * 4096 ** 3) / sq / 1e12;
  const x = randomTensor(gpu, 2048, 4096), w = randomTensor(gpu, 11008, 4096);
  const lin = await timed(gpu, () => gpu.linear(x, w), 20);
  figures.linear_2048x4096x11008_tflops = (2 * 2048 * 4096 * 11008) / lin / 1e12;
  const gram = await timed(gpu, () => gpu.gram(x), 20);
  figures.gram_2048x4096_tflops = (2 * 2048 * 4096 * 4096) / gram / 1e12;
  for (const t of [a, b, x, w]) gpu.free(t);
  console.log(`  f32 matmul (best of 3 runs of 20 after warm-up) 4096^3: ${(sq * 1000).toFixed(1)} ms = ${figures.matmul_4096_tflops.toFixed(2)} TFLOP/s; `
    + `linear 2048x4096 -> 11008: ${(lin * 1000).toFixed(1)} ms = ${figures.linear_2048x4096x11008_tflops.toFixed(2)} TFLOP/s; `
    + `gram X^T X 2048x4096: ${(gram * 1000).toFixed(1)} ms = ${figures.gram_2048x4096_tflops.toFixed(2)} TFLOP/s`);
  return figures;
}

export async function benchGpu(_limits: MachineLimits): Promise<Record<string, number>> {
  const gpu = await createBackend('gpu');
  const cpu = new CpuBackend();
  console.log(`\nWebGPU backend: ${gpu.name}`);
  const figures: Record<string, number> = {};

  Object.assign(figures, await benchMatmul(gpu));

  const evalReq = { modelDir: ASSETS.model, dataFile: ASSETS.heldout, seqLen: 512, maxWindows: 64, batch: 8 };
  for (const [name, be] of [['gpu', gpu], ['cpu', cpu]] as const) {
    await evaluate(be, { ...evalReq, maxWindows: 8 });
    const r = await evaluate(be, evalReq);
    figures[`forward_${name}_tokens_per_s`] = r.tokensPerSecond;
    figures[`forward_${name}_ppl`] = r.ppl;
  }
  const opened = openModelDir(ASSETS.model);
  const flops = forwardFlopsPerToken(opened.config, 512);
  opened.close();
  console.log(`  kdoc-6m forward, 64 x 512 tokens, batch 8: gpu ${figures.forward_gpu_tokens_per_s.toFixed(0)} tokens/s `
    + `(${((flops * figures.forward_gpu_tokens_per_s) / 1e9).toFixed(0)} GFLOP/s), cpu ${figures.forward_cpu_tokens_per_s.toFixed(0)} tokens/s; `
    + `ppl gpu ${figures.forward_gpu_ppl.toFixed(6)} vs cpu ${figures.forward_cpu_ppl.toFixed(6)}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-gpu-bench-'));
  try {
    for (const [name, be] of [['gpu', gpu], ['cpu', cpu]] as const) {
      const out = path.join(tmp, name);
      const m = await quantizeCalibrated(ASSETS.model, out, {
        method: METHODS.gptq as CalibratedMethod, options: { bits: 4, groupSize: 128, symmetric: false, extra: {} },
        calib: { file: ASSETS.calib, samples: 128, seqLen: 512 }, backend: be,
      });
      figures[`gptq_${name}_seconds`] = m.summary.seconds;
      figures[`gptq_${name}_ppl`] = (await evaluate(gpu, { ...evalReq, modelDir: out, maxWindows: undefined })).ppl;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`  GPTQ W4 g128, 128 x 512 calibration: calibrated on the gpu ${figures.gptq_gpu_seconds.toFixed(1)} s, on the cpu ${figures.gptq_cpu_seconds.toFixed(1)} s; `
    + `held-out ppl (503 windows) ${figures.gptq_gpu_ppl.toFixed(4)} vs ${figures.gptq_cpu_ppl.toFixed(4)} (${(100 * (figures.gptq_gpu_ppl / figures.gptq_cpu_ppl - 1)).toFixed(3)}%)`);
  gpu.dispose?.();
  return figures;
}
