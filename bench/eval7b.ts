/**
 * Evaluating a 7B model on this machine's CPU within its memory: `lowbit eval` of the Llama-2-7B-shaped
 * bf16 checkpoint (scripts/make-synthetic-llama.ts; 13.5 GB, random weights, so the perplexity itself
 * means nothing) on windows of 512 tokens. Its linears stay in bf16 (2 bytes a weight) and are widened
 * one layer at a time per forward pass; widened at load they would take 27 GB of f32.
 * Reports load time, tokens/s and GFLOP/s (2 x parameters per token) against the measured FMA peak,
 * and the peak RSS.
 *   npm run bench -- eval7b [--model-dir=DIR] [--keep] [--windows=N]   (on request: a few minutes, 13.5 GB of disk)
 */
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ASSETS, ROOT } from '../src/api/assets.js';
import { benchArg } from './args.js';
import { synthetic7b } from './synthetic7b.js';
import type { MachineLimits } from './machine.js';


export async function benchEval7b(limits: MachineLimits): Promise<Record<string, number>> {
  const model = synthetic7b();
  const { dir, params, embeddingParams: embedding } = model;
  const windows = Number(benchArg('windows') ?? 1);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'lowbit.js'), 'eval', dir, '--data', ASSETS.heldout, '--seq-len', '512', '--max-windows', String(windows), '--json'],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  const wall = (performance.now() - t0) / 1000;
  model.dispose();
  if (r.status !== 0) throw new Error(r.stderr);
  const e = JSON.parse(r.stdout);
  // Every parameter but the embedding table takes part in a token's forward pass: 2 FLOP each.
  const gflops = (2 * (params - embedding) * e.tokensPerSecond) / 1e9;
  console.log(`\n== evaluating a 7B model on the CPU: ${(params / 1e9).toFixed(2)}B parameters, bf16 (${dir})`);
  console.log(`  ${windows} window(s) of 512 tokens: ${wall.toFixed(1)} s in all, of which ${e.seconds.toFixed(1)} s forward (load and tokenization: ${(wall - e.seconds).toFixed(1)} s)`);
  console.log(`  ${e.tokensPerSecond.toFixed(1)} tokens/s, ${gflops.toFixed(0)} GFLOP/s (${((100 * gflops) / limits.peakGflops).toFixed(0)}% of the measured ${limits.peakGflops.toFixed(0)} GFLOP/s FMA peak)`);
  console.log(`  peak RSS ${(e.peakRssMiB / 1024).toFixed(2)} GiB (the checkpoint: ${(model.bytes / 2 ** 30).toFixed(2)} GiB; widened to f32 it would be ${((4 * params) / 2 ** 30).toFixed(1)} GiB)`);
  return { params, windows, wall_s: wall, forward_s: e.seconds, tokens_per_s: e.tokensPerSecond, gflops, peak_rss_mib: e.peakRssMiB };
}
