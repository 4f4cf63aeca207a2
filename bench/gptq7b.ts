/**
 * GPTQ W4 g128 of a Llama-2-7B-shaped bf16 checkpoint on the GPU, against issue 11's yardstick:
 * PyTorch's reference GPTQ on the same H100, 128 x 2048 calibration tokens, ~282 s in all (8.8 s a
 * block), per layer 0.91 s at 4096x4096, 0.60 s at 11008x4096 and 1.61 s at 4096x11008 (out x in).
 *   - the solver alone (gptqOnDevice, the codes read back) at those three shapes; QuantEase's 30
 *     sweeps (quanteaseOnDevice, W4 g128, its defaults) at the two shapes the issue timed in PyTorch
 *     (22.4 s at 4096x4096, 40.7 s at 11008x4096);
 *   - the products of a block at 4096 tokens (two windows of 2048): linears, and X^T X added into a
 *     Hessian (the product with beta = 1 the calibrated pipeline issues);
 *   - one decoder block's forward pass on 2 x 2048 tokens (tokens/s);
 *   - the whole run through quantizeCalibrated on a checkpoint of --layers=N blocks (default 32;
 *     fewer keep a run inside a time limit: the time per block is the same), --samples=N windows
 *     of 2048 (default 128): seconds, per block, projected to 32 blocks; peak GPU memory (nvidia-smi
 *     polled, where there is one) and peak host RSS.
 *   npm run bench -- gptq7b [--layers=N] [--samples=N] [--model-dir=DIR] [--only-run] [--products=f32|int8-slices] [--trace] [--method=lrc]
 * (--only-run: the whole run alone, without the parts before it; --trace: the time of every step of its first two blocks;
 * --method=lrc: the whole run with LRC W4A4 instead of GPTQ, solved on the GPU as well.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createBackend, type Backend, type Tensor } from '../src/backend/index.js';
import type { DeviceSolvers } from '../src/backend/solvers.js';
import type { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.js';
import { gptqOnDevice } from '../src/quant/methods/gptq.js';
import { quanteaseOnDevice } from '../src/quant/methods/quantease.js';
import { quantizeCalibrated } from '../src/pipeline/calibrated.js';
import { METHODS } from '../src/quant/registry.js';
import type { CalibratedMethod } from '../src/quant/method.js';
import { ASSETS } from '../src/api/assets.js';
import { architectureOf } from '../src/arch/architecture.js';
import { openModelDir } from '../src/export/reader.js';
import { writeSyntheticLlama } from '../scripts/make-synthetic-llama.js';
import { benchArg } from './args.js';
import type { MachineLimits } from './machine.js';
import { timed } from './gpu.js';

/** Reference times on the H100 (issue 11), seconds. */
const PYTORCH = {
  total: 282, perBlock: 8.8, layer: { '4096x4096': 0.91, '11008x4096': 0.6, '4096x11008': 1.61 } as Record<string, number>,
  quantease: { '4096x4096': 22.4, '11008x4096': 40.7 } as Record<string, number>,
};

function random(be: Backend, rows: number, cols: number, seed: number, scale = 1): Tensor {
  const a = new Float32Array(rows * cols);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    a[i] = ((s >>> 0) / 2 ** 32 - 0.5) * scale;
  }
  return be.upload(a, [rows, cols]);
}

/** Peak GPU memory in use while `work` runs, from nvidia-smi (null without one). */
async function peakGpuMemory<T>(work: () => Promise<T>): Promise<{ result: T; peakMiB: number | null }> {
  let peak: number | null = null;
  const smi = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '250'], { stdio: ['ignore', 'pipe', 'ignore'] });
  smi.on('error', () => { /* no nvidia-smi: no figure */ });
  smi.stdout?.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim()) peak = Math.max(peak ?? 0, Number(line.trim().split(',')[0]));
  });
  try {
    return { result: await work(), peakMiB: peak };
  } finally {
    smi.kill();
  }
}

async function solverTimes(be: Backend, s: DeviceSolvers): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const [rows, cols] of [[4096, 4096], [11008, 4096], [4096, 11008]]) {
    const w = random(be, rows, cols, 1, 0.04), x = random(be, 2 * cols, cols, 2);
    const h = s.zeros([cols, cols]);
    s.gemm({ tensor: h, offset: 0, ld: cols }, { tensor: x, offset: 0, ld: cols }, { tensor: x, offset: 0, ld: cols }, { m: cols, n: cols, k: 2 * cols, transA: true, alpha: 1, beta: 1 });
    be.free(x);
    const layer = { solvers: s, weight: w, hessian: h, tokens: 2 * cols, rows, cols };
    const o = { bits: 4, groupSize: 128, symmetric: false, damp: 0.01, actOrder: false, blockSize: 128 };
    be.free((await gptqOnDevice(layer, o)).dequantized); // warm-up: pipelines compiled
    const t0 = performance.now();
    be.free((await gptqOnDevice(layer, o)).dequantized);
    const key = `${rows}x${cols}`;
    figures[`solver_${key}_s`] = (performance.now() - t0) / 1000;
    console.log(`  GPTQ solver ${key} (out x in): ${figures[`solver_${key}_s`].toFixed(3)} s (PyTorch ${PYTORCH.layer[key]} s)`);
    if (PYTORCH.quantease[key]) {
      const qo = { bits: 4, groupSize: 128, symmetric: false, iterations: 30, relaxEvery: 3, actOrder: true, tolerance: 0, outlierRatio: 0, outlierStructure: 'entry' as const };
      const t1 = performance.now();
      const res = await quanteaseOnDevice(layer, qo);
      be.free(res.dequantized);
      figures[`quantease_${key}_s`] = (performance.now() - t1) / 1000;
      console.log(`  QuantEase, 30 sweeps, ${key}: ${figures[`quantease_${key}_s`].toFixed(2)} s (PyTorch ${PYTORCH.quantease[key]} s); objective ${res.objectives[0].toExponential(3)} after the first sweep, ${res.objectives[29].toExponential(3)} after the last`);
    }
    be.free(w);
    be.free(h);
  }
  return figures;
}

async function productRates(be: Backend, s: DeviceSolvers): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  const n = 4096;
  const x = random(be, n, 11008, 3);
  const xs = { 4096: random(be, n, 4096, 5), 11008: x } as Record<number, Tensor>;
  for (const [inDim, outDim] of [[4096, 4096], [4096, 11008], [11008, 4096]]) {
    const w = random(be, outDim, inDim, 6, 0.02);
    const sec = await timed(be, () => be.linear(xs[inDim], w), 10);
    figures[`linear_${inDim}_${outDim}_tflops`] = (2 * n * inDim * outDim) / sec / 1e12;
    be.free(w);
  }
  for (const d of [4096, 11008]) {
    const h = s.zeros([d, d]);
    // As the pipeline adds it: the upper tiles only (mirrored once a block, not timed here).
    const sec = await timed(be, () => (s.gemm({ tensor: h, offset: 0, ld: d }, { tensor: xs[d], offset: 0, ld: d }, { tensor: xs[d], offset: 0, ld: d }, { m: d, n: d, k: n, transA: true, alpha: 1, beta: 1, upperOnly: true }), null), 5);
    figures[`hessian_${d}_tflops`] = (2 * n * d * d) / sec / 1e12;
    be.free(h);
  }
  console.log(`  products at 4096 tokens, TFLOP/s: linear 4096->4096 ${figures.linear_4096_4096_tflops.toFixed(1)}, 4096->11008 ${figures.linear_4096_11008_tflops.toFixed(1)}, `
    + `11008->4096 ${figures.linear_11008_4096_tflops.toFixed(1)}; X^T X added into H (upper tiles; full-product FLOPs over the time): 4096 wide ${figures.hessian_4096_tflops.toFixed(1)}, 11008 wide ${figures.hessian_11008_tflops.toFixed(1)}`);
  Object.values(xs).forEach((t) => be.free(t));
  return figures;
}

/** One block's forward pass on 2 windows of 2048 tokens, with the checkpoint's first block. */
async function blockForward(be: Backend, dir: string): Promise<Record<string, number>> {
  const model = openModelDir(dir);
  const cfg = model.config, arch = architectureOf(cfg);
  const block = arch.loadBlock(cfg, model.source, be, 0);
  const shape = { batch: 2, seqLen: 2048 };
  const x = random(be, 4096, cfg.hiddenSize, 7);
  const sec = await timed(be, () => arch.blockForward(be, cfg, block, x, shape), 5);
  model.close();
  const tokensPerS = 4096 / sec;
  console.log(`  one decoder block, 2 x 2048 tokens: ${(sec * 1000).toFixed(0)} ms = ${tokensPerS.toFixed(0)} tokens/s a block (${(tokensPerS / 32).toFixed(0)} tokens/s through 32 blocks)`);
  return { block_forward_s: sec, block_tokens_per_s: tokensPerS };
}

export async function benchGptq7b(_limits: MachineLimits): Promise<Record<string, number>> {
  const layers = Number(benchArg('layers') ?? 32), samples = Number(benchArg('samples') ?? 128);
  const dir = benchArg('model-dir') ?? path.join(os.tmpdir(), `lowbit-llama7b-${layers}`);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    console.log(`\nwriting a Llama-2-7B-shaped bf16 checkpoint of ${layers} blocks to ${dir} ...`);
    writeSyntheticLlama(dir, layers);
  }
  const be = await createBackend('gpu');
  if (!be.solvers) throw new Error('the GPU backend has no solvers');
  // --products=f32|int8-slices: how the forwards' linears multiply (WebGpuBackend.products; the
  // default is int8-slices where the device has int8 subgroup matrices).
  const products = benchArg('products');
  if (products === 'f32' || products === 'int8-slices') (be as WebGpuBackend).products = products;
  else if (products) throw new Error(`--products=${products}: f32 or int8-slices`);
  console.log(`\n== GPTQ W4 g128 of a Llama-2-7B-shaped checkpoint on ${be.name}, linears by ${(be as WebGpuBackend).products}`);
  const figures: Record<string, number> = { layers, samples };
  if (!process.argv.includes('--only-run')) {
    Object.assign(figures, await solverTimes(be, be.solvers));
    Object.assign(figures, await productRates(be, be.solvers));
    Object.assign(figures, await blockForward(be, dir));
  }

  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-gptq7b-'));
  try {
    const t0 = performance.now();
    const trace = process.argv.includes('--trace');
    // --method=lrc: LRC W4A4 (per-channel symmetric weights, 4-bit activations, rank 10%, 3 iterations) instead.
    const lrc = benchArg('method') === 'lrc';
    const { peakMiB } = await peakGpuMemory(() => quantizeCalibrated(dir, path.join(out, 'q'), {
      method: METHODS[lrc ? 'lrc' : 'gptq'] as CalibratedMethod,
      options: lrc ? { bits: 4, groupSize: 0, symmetric: true, extra: { lrcRank: 0.1, lrcIterations: 3 } } : { bits: 4, groupSize: 128, symmetric: false, extra: {} },
      ...(lrc ? { runtime: { activation: { bits: 4, symmetric: true, clipRatio: 1 }, rotation: null } } : {}),
      calib: { file: ASSETS.calib, samples, seqLen: 2048 }, backend: be, force: true,
      // A line a block as it finishes, so that a run stopped by a time limit still says how far it got.
      // --trace: every step of the first two blocks too (where a block's time goes).
      onProgress: (_done, _total, what) => {
        const at = `${what} at ${((performance.now() - t0) / 1000).toFixed(2)} s`;
        if (what.endsWith('propagating') || (trace && /^block [01]:/.test(what))) console.log(`    ${at}`);
      },
    }));
    const total = (performance.now() - t0) / 1000;
    const perBlock = total / layers;
    Object.assign(figures, { total_s: total, per_block_s: perBlock, projected_32_blocks_s: perBlock * 32, peak_gpu_mib: peakMiB ?? -1, peak_rss_mib: process.resourceUsage().maxRSS / 1024 });
    console.log(`  whole run (${lrc ? 'LRC W4A4' : 'GPTQ W4 g128'}), ${layers} blocks, ${samples} x 2048 tokens: ${total.toFixed(1)} s, ${perBlock.toFixed(2)} s a block `
      + `(PyTorch at 128 windows: ${PYTORCH.perBlock} s); 32 blocks: ~${figures.projected_32_blocks_s.toFixed(0)} s (PyTorch at 128 windows: ${PYTORCH.total} s)`);
    console.log(`  peak GPU memory ${peakMiB === null ? 'n/a (no nvidia-smi)' : `${(peakMiB / 1024).toFixed(1)} GiB`}, peak host RSS ${(figures.peak_rss_mib / 1024).toFixed(2)} GiB`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    be.dispose?.();
  }
  return figures;
}
