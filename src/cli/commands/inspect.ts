import type { Command } from 'commander';
import { expectedTensors, validateTensors } from '../../arch/llama.js';
import { openModelDir } from '../../export/reader.js';
import { Checkpoint } from '../../io/checkpoint.js';
import { kernelDescription } from '../../native/index.js';
import { printJson, table } from '../args.js';
import { progressBar } from '../progress.js';
import fs from 'node:fs';
import { LowbitError } from '../../util/errors.js';
import { GgufFile } from '../../io/gguf.js';
import { isGgufFile, summariseGguf, type GgufSummary } from '../../export/gguf/reader.js';
import { ggufName } from '../../export/gguf/names.js';

function printGguf(s: GgufSummary, withTensors = true): void {
  console.log(`  GGUF v${s.version}: ${Object.entries(s.tensorTypes).map(([t, n]) => `${n} ${t}`).join(', ')}; decoder matrices at ${s.bitsPerWeight.toFixed(4)} bits/weight`);
  if (s.lowbit) console.log(`  written by lowbit ${s.lowbit.version}: ${s.lowbit.method}, target ${s.lowbit.gguf_target}, options ${JSON.stringify(s.lowbit.options)}`);
  for (const k of ['general.name', 'general.file_type', 'tokenizer.ggml.model', 'tokenizer.ggml.pre']) if (s.metadata[k] !== undefined) console.log(`  ${k}: ${s.metadata[k]}`);
  if (withTensors) console.log(table(['tensor', 'shape', 'type'], s.tensors.map((t) => [t.name, t.shape.join('x'), t.type])));
}

export interface TensorStats {
  name: string;
  shape: number[];
  dtype: string;
  mean: number;
  std: number;
  min: number;
  max: number;
  absMax: number;
  /** Excess kurtosis: 0 for a Gaussian; large values mean heavy tails (outliers). */
  kurtosis: number;
}

export function tensorStats(name: string, shape: number[], dtype: string, x: Float32Array): TensorStats {
  let sum = 0, min = Infinity, max = -Infinity;
  for (const v of x) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / x.length;
  let m2 = 0, m4 = 0;
  for (const v of x) {
    const d = (v - mean) * (v - mean);
    m2 += d;
    m4 += d * d;
  }
  m2 /= x.length;
  m4 /= x.length;
  return { name, shape, dtype, mean, std: Math.sqrt(m2), min, max, absMax: Math.max(-min, max), kurtosis: m2 > 0 ? m4 / (m2 * m2) - 3 : 0 };
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('architecture, parameter count, dtypes and per-layer weight statistics of a model')
    .argument('<model>', 'model directory (original or lowbit-quantized) or GGUF file (lowbit\'s or llama.cpp\'s)')
    .option('--json', 'print one JSON object')
    .action(async (dir: string, o: { json?: boolean }) => {
      let model: ReturnType<typeof openModelDir>;
      try {
        model = openModelDir(dir);
      } catch (e) {
        // A GGUF of an architecture lowbit does not run: its metadata and tensors are still worth showing.
        if (!(e instanceof LowbitError) || !fs.existsSync(dir) || !fs.statSync(dir).isFile() || !isGgufFile(dir)) throw e;
        const g = GgufFile.open(dir);
        const s = summariseGguf(g);
        g.close();
        if (o.json) return printJson({ model: dir, runnable: false, reason: e.message, gguf: s });
        console.log(`${dir}: GGUF v${s.version}, architecture ${s.architecture} (lowbit cannot run it: ${e.message})`);
        printGguf(s);
        return;
      }
      try {
        validateTensors(model.config, model.source);
        const names = [...expectedTensors(model.config).keys()];
        const ckpt = model.source instanceof Checkpoint ? model.source : null;
        const bar = progressBar('inspect', names.length, 'tensors');
        const stats: TensorStats[] = [];
        const dtypes: Record<string, number> = {};
        let params = 0;
        for (const [i, name] of names.entries()) {
          const shape = model.source.shape(name);
          const ggufType = model.gguf?.tensors.find((t) => t.name === ggufName(name)?.name)?.type;
          const dtype = ckpt ? ckpt.info(name).dtype : ggufType ?? (model.manifest?.layers[name.replace(/\.weight$/, '')] ? 'quantized' : 'stored');
          const n = shape.reduce((a, b) => a * b, 1);
          params += n;
          dtypes[dtype] = (dtypes[dtype] ?? 0) + n;
          stats.push(tensorStats(name, shape, dtype, model.source.readF32(name)));
          bar.update(i + 1);
        }
        bar.stop();
        const report = {
          model: dir,
          architecture: model.config.family,
          config: model.config,
          parameters: params,
          dtypes,
          quantization: model.manifest
            ? { method: model.manifest.method, options: model.manifest.options, runtime: model.manifest.runtime ?? null, bitsPerWeight: model.manifest.summary.bitsPerWeight }
            : null,
          ...(model.gguf ? { gguf: { ...model.gguf, tensors: undefined } } : {}),
          kernels: kernelDescription(),
          tensors: stats,
        };
        if (o.json) return printJson(report);
        const c = model.config;
        console.log(`${dir}: ${c.family}, ${params.toLocaleString('en-US')} parameters`);
        console.log(`  hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads (${c.numKvHeads} KV, head dim ${c.headDim}), MLP ${c.intermediateSize}, vocab ${c.vocabSize}`);
        console.log(`  RoPE theta ${c.ropeTheta} (${c.ropeScaling.type}), max positions ${c.maxPositions}, tied embeddings ${c.tieWordEmbeddings}${c.slidingWindow ? `, sliding window ${c.slidingWindow}` : ''}`);
        console.log(`  dtypes: ${Object.entries(dtypes).map(([d, n]) => `${d} ${n.toLocaleString('en-US')}`).join(', ')}`);
        if (report.quantization) {
          console.log(`  quantized: ${report.quantization.method}, ${report.quantization.bitsPerWeight.toFixed(4)} bits/weight, options ${JSON.stringify(report.quantization.options)}`);
          const rt = report.quantization.runtime;
          if (rt?.activation) console.log(`  activations: ${rt.activation.bits}-bit per token, ${rt.activation.symmetric ? 'symmetric' : 'asymmetric'}, clip ${rt.activation.clipRatio}`);
          if (rt?.rotation) console.log(`  rotation: Hadamard seed ${rt.rotation.seed} (residual ${rt.rotation.residual}; before down_proj ${rt.rotation.down})`);
        }
        if (model.gguf) printGguf(model.gguf, false);
        console.log(`  kernels: ${report.kernels}\n`);
        const f = (x: number) => x.toPrecision(4);
        console.log(table(['tensor', 'shape', 'dtype', 'mean', 'std', 'min', 'max', 'kurtosis'],
          stats.map((s) => [s.name, s.shape.join('x'), s.dtype, f(s.mean), f(s.std), f(s.min), f(s.max), s.kurtosis.toFixed(2)])));
      } finally {
        model.close();
      }
    });
}
