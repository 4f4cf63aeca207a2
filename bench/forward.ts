/** Forward-pass throughput on the embedded kdoc-6m model. */
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { loadModelDir } from '../src/eval/run.js';
import { perplexity } from '../src/eval/perplexity.js';
import { loadTokenizer, tokenizeFile } from '../src/io/tokenizer.js';
import { ASSETS } from '../src/api/assets.js';
import type { MachineLimits } from './machine.js';

/** Multiply-adds per token of a Llama forward pass at sequence length T (weights + attention). */
export function forwardFlopsPerToken(c: { hiddenSize: number; intermediateSize: number; numLayers: number; numHeads: number; numKvHeads: number; headDim: number; vocabSize: number }, T: number): number {
  const h = c.hiddenSize, qd = c.numHeads * c.headDim, kvd = c.numKvHeads * c.headDim;
  const perLayer = h * (qd + 2 * kvd) + qd * h + 3 * h * c.intermediateSize + qd * T; // attention: QK^T and PV over ~T/2 keys each
  return 2 * (c.numLayers * perLayer + h * c.vocabSize);
}

export async function benchForward(limits: MachineLimits): Promise<Record<string, number>> {
  const be = new CpuBackend();
  const { model } = loadModelDir(be, ASSETS.model);
  const tokens = tokenizeFile(loadTokenizer(ASSETS.model), ASSETS.heldout);
  await perplexity(be, model, tokens, { seqLen: 512, maxWindows: 4 });
  const r = await perplexity(be, model, tokens, { seqLen: 512, maxWindows: 64 });
  const gflops = (forwardFlopsPerToken(model.config, 512) * r.tokensPerSecond) / 1e9;
  console.log(`\nforward pass, kdoc-6m, 64 windows x 512 tokens, f32 on the CPU backend:`);
  console.log(`  ${r.tokensPerSecond.toFixed(0)} tokens/s = ${gflops.toFixed(0)} GFLOP/s (${((100 * gflops) / limits.peakGflops).toFixed(0)}% of peak; ${(forwardFlopsPerToken(model.config, 512) / 1e6).toFixed(1)} MFLOP/token)`);
  return { forward_tokens_per_s: r.tokensPerSecond, forward_gflops: gflops };
}
