/**
 * Block-by-block quantization with calibration data, as GPTQ's reference runs it:
 *   1. draw calibration windows from a text (seeded) and embed them;
 *   2. for each decoder block: run it on the current activations while accumulating, for every
 *      linear layer, the Hessian H = X^T X of its input (q/k/v share one, gate/up share one);
 *      quantize the block's linears; run the block again with the quantized weights to produce
 *      the next block's input, so later blocks see earlier blocks' quantization error.
 * Memory holds the activations of the calibration tokens for one block, one block's weights and
 * its Hessians; never the whole model's activations. Each layer's relative objective
 * ||WX - W_hat X||^2 / ||WX||^2 is computed from H and kept in the report, next to RTN's.
 */
import { DenseLinear, LINEAR_NAMES, QuantizedActLinear, applyRuntime, blockForward, blockTensorName, linearTensors, loadBlock, parseLinearWeightName, uploadTensor, validateTensors, type Block, type Model, type RuntimeSpec } from '../arch/llama.js';
import { layerRelativeError } from '../quant/act-aware.js';
import { lowRankProduct } from '../quant/methods/lrc.js';
import { NO_RUNTIME, manifestRuntime, runtimeSource } from './runtime.js';
import { createBackend, type ActQuantSpec, type Backend, type Tensor } from '../backend/index.js';
import { HessianAccumulator, INPUT_GROUPS, inputGroupOf } from '../calib/hessian.js';
import { sampleWindows, type CalibrationSpec } from '../calib/sample.js';
import type { LowbitManifest } from '../export/manifest.js';
import { openModelDir } from '../export/reader.js';
import { checkOutputDir } from '../io/atomic.js';
import { writeModelOutput, type GgufOutput } from '../export/output.js';
import { ggmlRtn } from '../quant/ggml/ggml-weight.js';
import { Checkpoint } from '../io/checkpoint.js';
import { loadTokenizer, tokenizeFile } from '../io/tokenizer.js';
import { groupGridWeight, quantizeRtn } from '../quant/group-grid.js';
import type { CalibratedMethod, LayerStats, QuantOptions } from '../quant/method.js';
import { LowbitError } from '../util/errors.js';
import { copyTensor } from './passthrough.js';
import { serialiseOptions } from './data-free.js';

export interface CalibrationRequest extends Partial<CalibrationSpec> {
  file: string;
}

export interface CalibratedRun {
  method: CalibratedMethod;
  options: QuantOptions;
  calib: CalibrationRequest;
  /** Activation quantization and rotation of the quantized model (default: none). */
  runtime?: RuntimeSpec;
  force?: boolean;
  /** A GGUF target: one GGUF file when the output ends in .gguf, else a lowbit directory on its grids (`lowbit export` writes the file). */
  gguf?: GgufOutput;
  backend?: Backend;
  /** Progress: linear layers quantized so far, of the total, and what is being done. */
  onProgress?: (done: number, total: number, what: string) => void;
  /** Checked before every layer: an aborted signal stops the run, and nothing is left on disk. */
  signal?: AbortSignal;
}

/** Calibration defaults: GPTQ's 128 windows of 2048 tokens, capped by the model's trained context. */
export function resolveCalibration(req: CalibrationRequest, maxPositions: number): CalibrationSpec {
  return { samples: req.samples ?? 128, seqLen: Math.min(req.seqLen ?? 2048, maxPositions), seed: req.seed ?? 0 };
}

export interface LayerReport {
  [key: string]: number | string | boolean;
  /** ||W X - W_hat X||^2 / ||W X||^2 of this method (with quantized activations: E||W x - W_hat x~ - U V^T x||^2 / E||W x||^2). */
  relError: number;
  /** The same for round-to-nearest on the same grids spec, for comparison. */
  rtnRelError: number;
}

export async function quantizeCalibrated(srcDir: string, outDir: string, run: CalibratedRun): Promise<LowbitManifest> {
  checkOutputDir(outDir, { overwrite: run.force, inputs: [srcDir] });
  const model = openModelDir(srcDir);
  try {
    run.signal?.throwIfAborted();
    if (model.manifest) throw new LowbitError('model is already quantized by lowbit; quantize the original checkpoint', srcDir);
    const cfg = model.config;
    validateTensors(cfg, model.source);
    const ckpt = model.source as Checkpoint;
    const runtime = run.runtime ?? NO_RUNTIME;
    const act = runtime.activation;
    const { plan, source, config: outConfig, names } = runtimeSource(ckpt, cfg, runtime);
    const spec = resolveCalibration(run.calib, cfg.maxPositions);
    const ids = sampleWindows(tokenizeFile(loadTokenizer(srcDir), run.calib.file), spec, run.calib.file);
    const be = run.backend ?? await createBackend();
    const start = performance.now();
    const total = cfg.numLayers * LINEAR_NAMES.length;
    let done = 0;

    // Batches of windows, ~4096 tokens each, so per-batch intermediates stay small.
    const perBatch = Math.max(1, Math.floor(4096 / spec.seqLen));
    const batches: { ids: Int32Array; shape: { batch: number; seqLen: number } }[] = [];
    for (let s = 0; s < spec.samples; s += perBatch) {
      const b = Math.min(perBatch, spec.samples - s);
      batches.push({ ids: ids.subarray(s * spec.seqLen, (s + b) * spec.seqLen), shape: { batch: b, seqLen: spec.seqLen } });
    }
    const embed = uploadTensor(be, source, 'model.embed_tokens.weight');
    let xs: Tensor[] = batches.map((b) => be.embedding(embed, b.ids));
    be.free(embed);

    const info = {
      method: run.method.name, options: { ...serialiseOptions(run.options), calibration: { file: run.calib.file, ...spec } },
      sourceDir: srcDir, architecture: cfg.family, runtime: manifestRuntime(runtime, plan), config: outConfig,
    };
    return await writeModelOutput(outDir, info, run.gguf, run.force, async (writer) => {
      for (const name of names) {
        if (parseLinearWeightName(name)) continue;
        copyTensor(ckpt, writer, name, source);
      }
      for (let layer = 0; layer < cfg.numLayers; layer++) {
        const block = loadBlock(cfg, source, be, layer);
        applyRuntime(block, act, plan?.down ?? null);
        run.onProgress?.(done, total, `block ${layer}: statistics`);
        const stats = await collectHessians(be, cfg, block, xs, batches.map((b) => b.shape), act);
        for (const name of LINEAR_NAMES) {
          run.signal?.throwIfAborted();
          run.onProgress?.(done, total, `block ${layer}: ${name}`);
          const tensorName = blockTensorName(layer, `${name}.weight`);
          const [rows, cols] = source.shape(tensorName);
          // The weight as loadBlock already read, checked and (if rotating) rotated it.
          const w = await be.read(linearTensors(block.linears[name]).weight);
          const h = stats[inputGroupOf(name)];
          const layerStats: LayerStats = { hessian: h.sum, tokens: h.tokens, ...(h.quantized ? { quantizedInput: h.quantized } : {}) };
          const ggmlType = writer.ggmlTypeFor(tensorName, [rows, cols]);
          const options = ggmlType ? { ...run.options, ggmlType } : run.options;
          const q = run.method.quantize(w, rows, cols, layerStats, options);
          const rtn = (ggmlType ? ggmlRtn(w, rows, cols, ggmlType) : groupGridWeight(quantizeRtn(w, rows, cols, run.options))).dequantize();
          const low = q.lowRank ? lowRankProduct(q.lowRank.u, q.lowRank.v, rows, cols, q.lowRank.rank) : null;
          const report: LayerReport = {
            ...q.report,
            relError: layerRelativeError(w, q.dequantize(), low, rows, cols, layerStats),
            rtnRelError: layerRelativeError(w, rtn, null, rows, cols, layerStats),
          };
          writer.quantized(tensorName.slice(0, -'.weight'.length), q, report);
          const old = linearTensors(block.linears[name]);
          be.free(old.weight);
          const weight = be.upload(q.dequantize(), [rows, cols]);
          const lowRank = q.lowRank ? { u: be.upload(q.lowRank.u, [rows, q.lowRank.rank]), v: be.upload(q.lowRank.v, [cols, q.lowRank.rank]) } : null;
          block.linears[name] = act || lowRank ? new QuantizedActLinear(weight, old.bias, act, lowRank) : new DenseLinear(weight, old.bias);
          done++;
        }
        run.onProgress?.(done, total, `block ${layer}: propagating`);
        xs = xs.map((x, i) => {
          const next = blockForward(be, cfg, block, x, batches[i].shape);
          be.free(x);
          return next;
        });
        freeBlock(be, block);
        await new Promise((r) => setImmediate(r));
      }
      xs.forEach((x) => be.free(x));
      return writer.finish((performance.now() - start) / 1000, { calibrationTokens: spec.samples * spec.seqLen });
    });
  } finally {
    model.close();
  }
}

/**
 * Runs the block on every batch and returns, per input group, H = X^T X and, with activation
 * quantization, X~^T X~ and X^T X~ (X~ = Q_a(X)).
 */
export async function collectHessians(be: Backend, cfg: Model['config'], block: Block, xs: Tensor[], shapes: { batch: number; seqLen: number }[], act: ActQuantSpec | null = null): Promise<Record<string, HessianAccumulator>> {
  const dims: Record<string, number> = {
    attn_in: cfg.hiddenSize, o_in: cfg.numHeads * cfg.headDim, mlp_in: cfg.hiddenSize, down_in: cfg.intermediateSize,
  };
  const acc: Record<string, HessianAccumulator> = {};
  for (const g of Object.keys(INPUT_GROUPS)) acc[g] = new HessianAccumulator(dims[g], act !== null);
  for (let i = 0; i < xs.length; i++) {
    const grams: { group: string; xx: Tensor; qq?: Tensor; xq?: Tensor; n: number }[] = [];
    const out = blockForward(be, cfg, block, xs[i], shapes[i], (name, input) => {
      const group = inputGroupOf(name);
      if (INPUT_GROUPS[group][0] !== name) return;
      const entry: (typeof grams)[number] = { group, xx: be.gram(input), n: input.shape[0] };
      if (act) {
        const xq = be.actQuant(input, act);
        entry.qq = be.gram(xq);
        entry.xq = be.matmul(input, xq, { transA: true });
        be.free(xq);
      }
      grams.push(entry);
    });
    be.free(out);
    for (const g of grams) {
      acc[g.group].addGram(await be.read(g.xx), g.n);
      be.free(g.xx);
      if (g.qq && g.xq) {
        HessianAccumulator.addInto(acc[g.group].quantized!.qq, await be.read(g.qq));
        HessianAccumulator.addInto(acc[g.group].quantized!.xq, await be.read(g.xq));
        be.free(g.qq);
        be.free(g.xq);
      }
    }
  }
  return acc;
}

function freeBlock(be: Backend, block: Block): void {
  be.free(block.inputNorm);
  be.free(block.postNorm);
  for (const l of Object.values(block.linears)) {
    const t = linearTensors(l);
    for (const x of [t.weight, t.bias, t.lowRank?.u, t.lowRank?.v]) if (x) be.free(x);
  }
}
