import type { Command } from 'commander';
import { inspect, type InspectResult } from '../../api/inspect.js';
import type { GgufSummary } from '../../export/gguf/reader.js';
import { printJson, table } from '../args.js';
import { progressBars } from '../progress.js';

function printGguf(s: Omit<GgufSummary, 'tensors'> & { tensors?: GgufSummary['tensors'] }): void {
  console.log(`  GGUF v${s.version}: ${Object.entries(s.tensorTypes).map(([t, n]) => `${n} ${t}`).join(', ')}; decoder matrices at ${s.bitsPerWeight.toFixed(4)} bits/weight`);
  if (s.lowbit) console.log(`  written by lowbit ${s.lowbit.version}: ${s.lowbit.method}, target ${s.lowbit.gguf_target}, options ${JSON.stringify(s.lowbit.options)}`);
  for (const k of ['general.name', 'general.file_type', 'tokenizer.ggml.model', 'tokenizer.ggml.pre']) if (s.metadata[k] !== undefined) console.log(`  ${k}: ${s.metadata[k]}`);
  if (s.tensors) console.log(table(['tensor', 'shape', 'type'], s.tensors.map((t) => [t.name, t.shape.join('x'), t.type])));
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('architecture, parameter count, dtypes and per-layer weight statistics of a model')
    .argument('<model>', 'model directory (original or lowbit-quantized) or GGUF file (lowbit\'s or llama.cpp\'s)')
    .option('--json', 'print one JSON object')
    .action(async (dir: string, o: { json?: boolean }) => {
      const bars = progressBars();
      let report: InspectResult;
      try {
        report = await inspect(dir, { onProgress: bars.onProgress });
      } finally {
        bars.stop();
      }
      if (o.json) return printJson(report);
      if (!report.runnable) {
        console.log(`${dir}: GGUF v${report.gguf.version}, architecture ${report.gguf.architecture} (lowbit cannot run it: ${report.reason})`);
        printGguf(report.gguf);
        return;
      }
      const c = report.config;
      console.log(`${dir}: ${c.family}, ${report.parameters.toLocaleString('en-US')} parameters`);
      const mlp = c.moe ? `MLP ${c.moe.experts} experts of ${c.intermediateSize} (top ${c.moe.topK} per token)` : `MLP ${c.intermediateSize}`;
      console.log(`  hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads (${c.numKvHeads} KV, head dim ${c.headDim}), ${mlp}, vocab ${c.vocabSize}`);
      if (c.opt) console.log(`  learned positions, ${c.opt.layerNormBefore ? 'pre' : 'post'}-LayerNorm blocks, embeddings of ${c.opt.wordEmbedProjDim}${c.opt.wordEmbedProjDim !== c.hiddenSize ? ' (project_in/out)' : ''}, max positions ${c.maxPositions}, tied embeddings ${c.tieWordEmbeddings}`);
      else console.log(`  RoPE theta ${c.ropeTheta} (${c.ropeScaling.type}), max positions ${c.maxPositions}, tied embeddings ${c.tieWordEmbeddings}${c.slidingWindow ? `, sliding window ${c.slidingWindow}${c.slidingLayers ? ` on layers ${c.slidingLayers.join(', ') || '(none)'}` : ''}` : ''}`);
      console.log(`  dtypes: ${Object.entries(report.dtypes).map(([d, n]) => `${d} ${n.toLocaleString('en-US')}`).join(', ')}`);
      const q = report.quantization;
      if (q) {
        console.log(`  quantized: ${q.method}, ${q.bitsPerWeight.toFixed(4)} bits/weight, options ${JSON.stringify(q.options)}`);
        const rt = q.runtime;
        if (rt?.activation) console.log(`  activations: ${rt.activation.bits}-bit per token, ${rt.activation.symmetric ? 'symmetric' : 'asymmetric'}, clip ${rt.activation.clipRatio}`);
        if (rt?.rotation) console.log(`  rotation: Hadamard seed ${rt.rotation.seed} (residual ${rt.rotation.residual}; before down_proj ${rt.rotation.down})`);
      }
      if (report.gguf) printGguf(report.gguf);
      console.log(`  kernels: ${report.kernels}\n`);
      const f = (x: number) => x.toPrecision(4);
      console.log(table(['tensor', 'shape', 'dtype', 'mean', 'std', 'min', 'max', 'kurtosis'],
        report.tensors.map((s) => [s.name, s.shape.join('x'), s.dtype, f(s.mean), f(s.std), f(s.min), f(s.max), s.kurtosis.toFixed(2)])));
    });
}
