/**
 * LRC step times at a Llama-2-7B attention shape (4096 x 4096, rank 10% = 205), CPU, with
 * statistics from 2048 synthetic tokens quantized to 4 bits per token: the W_hat-step (act-aware
 * target + GPTQ), the (U, V)-step (Cholesky whitening + randomized truncated SVD) and the W4A4
 * error evaluation.
 */
import { actQuantTs } from '../src/backend/cpu/ts-kernels.js';
import { sgemm } from '../src/linalg/gemm.js';
import { activationAwareTarget, layerRelativeError } from '../src/quant/act-aware.js';
import { dequantizeGroupGrid } from '../src/quant/group-grid.js';
import { gptqQuantize } from '../src/quant/methods/gptq.js';
import { lowRankProduct, lowRankStep, lrcRank } from '../src/quant/methods/lrc.js';
import type { LayerStats } from '../src/quant/method.js';
import type { MachineLimits } from './machine.js';
import { gaussian } from './gptq.js';

function gram(a: Float32Array, b: Float32Array, tokens: number, cols: number): Float64Array {
  const g = new Float32Array(cols * cols);
  sgemm({ m: cols, n: cols, k: tokens, transA: true }, { data: a }, { data: b }, { data: g });
  return Float64Array.from(g);
}

export async function benchLrc(_limits: MachineLimits): Promise<Record<string, number>> {
  const rows = 4096, cols = 4096, tokens = 2048;
  const x = gaussian(tokens * cols, 1, 3);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < cols; j += 97) x[t * cols + j] *= 20;
  const xq = actQuantTs(x, cols, { bits: 4, clipRatio: 0.9, symmetric: true });
  const stats: LayerStats = { hessian: gram(x, x, tokens, cols), tokens, quantizedInput: { qq: gram(xq, xq, tokens, cols), xq: gram(x, xq, tokens, cols) } };
  const w = gaussian(rows * cols, 0.02, 4);
  const k = lrcRank(rows, cols, 0.1);
  const time = <T>(f: () => T): [T, number] => {
    const t = performance.now();
    const r = f();
    return [r, (performance.now() - t) / 1000];
  };
  const [target, tTarget] = time(() => activationAwareTarget(w, null, rows, cols, stats.quantizedInput!, 0.01));
  const [grid, tGptq] = time(() => gptqQuantize(target, rows, cols, stats.quantizedInput!.qq, { bits: 4, groupSize: 0, symmetric: true, damp: 0.01, actOrder: false, blockSize: 128 }).grid);
  const wHat = dequantizeGroupGrid(grid);
  const [uv, tUv] = time(() => lowRankStep(w, wHat, rows, cols, k, stats.hessian, stats.quantizedInput!, 0.01));
  const [, tErr] = time(() => layerRelativeError(w, wHat, lowRankProduct(uv.u, uv.v, rows, cols, k), rows, cols, stats));
  console.log(`\nLRC steps at 4096x4096, rank ${k} (10%), W4A4, CPU:`);
  console.log(`  W_hat-step: act-aware target ${tTarget.toFixed(2)} s + GPTQ ${tGptq.toFixed(2)} s`);
  console.log(`  (U, V)-step: ${tUv.toFixed(2)} s (Cholesky whitening, randomized SVD with 8 power iterations)`);
  console.log(`  W4A4 layer error: ${tErr.toFixed(2)} s; one full iteration ${(tTarget + tGptq + tUv).toFixed(2)} s`);
  return { lrc_target_s: tTarget, lrc_gptq_s: tGptq, lrc_uv_s: tUv, lrc_error_s: tErr };
}
