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
import { DenseLinear, QuantizedActLinear, applyRuntime, linearTensors, type Block, type Model, type RuntimeSpec } from '../arch/layers.js';
import { architectureOf, validateTensors, type Architecture, type InputGroup } from '../arch/architecture.js';
import { layerRelativeError } from '../quant/act-aware.js';
import { layerRelativeErrorsOnDevice } from '../quant/act-aware-device.js';
import { lowRankProduct } from '../quant/methods/lrc.js';
import { NO_RUNTIME, manifestRuntime, runtimeSource } from './runtime.js';
import { rowsCols, type ActQuantSpec, type Backend, type Tensor } from '../backend/backend.js';
import { matrixView, type DeviceSolvers } from '../backend/solvers.js';
import { HessianAccumulator } from '../calib/hessian.js';
import { sampleWindows, type CalibrationSpec } from '../calib/sample.js';
import type { LowbitManifest } from '../export/manifest.js';
import type { ModelDir } from '../export/reader.js';
import type { ModelSink } from '../export/sink.js';
import type { ModelInfo } from '../export/writer.js';
import type { ModelConfig } from '../arch/config.js';
import type { RotationPlan } from '../arch/rotation.js';
import type { TensorSource } from '../io/tensor-source.js';
import type { GgufOutput } from '../export/gguf/plan.js';
import { ggmlRtn } from '../quant/ggml/ggml-weight.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { tokenizeFile } from '../io/tokenizer.js';
import { groupGridWeight, quantizeRtn, rtnOnDevice } from '../quant/group-grid.js';
import type { CalibratedMethod, LayerStats, QuantOptions } from '../quant/method.js';
import type { QuantizedWeight } from '../quant/types.js';
import { LowbitError } from '../util/errors.js';
import { copyTensor } from './passthrough.js';
import { PrefetchedSource } from '../io/prefetched-source.js';
import { serialiseOptions } from './data-free-stream.js';

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
  /** Also, when the method solved the layer on the backend's device (DeviceSolvers) rather than the host: solvedOnDevice: true. */
  [key: string]: number | string | boolean;
  /** ||W X - W_hat X||^2 / ||W X||^2 of this method (with quantized activations: E||W x - W_hat x~ - U V^T x||^2 / E||W x||^2). */
  relError: number;
  /** The same for round-to-nearest on the same grids spec, for comparison. */
  rtnRelError: number;
}

/** A checkpoint prepared for block-wise quantization: the runtime's view of its tensors, and the calibration windows. */
export interface CalibratedPlan {
  info: ModelInfo & { config: ModelConfig };
  /** The rotation the runtime asks for (null: none), and the tensors as it makes them. */
  rotation: RotationPlan | null;
  source: TensorSource;
  names: string[];
  ids: Int32Array;
  spec: CalibrationSpec;
}

/** Checks the model and resolves the runtime (rotation) and the calibration windows (tokenized, sampled). */
export function planCalibrated(model: ModelDir, srcDir: string, run: CalibratedRun): CalibratedPlan {
  if (model.manifest) throw new LowbitError('model is already quantized by lowbit; quantize the original checkpoint', srcDir);
  const cfg = model.config;
  validateTensors(cfg, model.source);
  const runtime = run.runtime ?? NO_RUNTIME;
  const { plan, source, config: outConfig, names } = runtimeSource(model.source as Checkpoint, cfg, runtime);
  const spec = resolveCalibration(run.calib, cfg.maxPositions);
  const ids = sampleWindows(tokenizeFile(model.tokenizer(), run.calib.file), spec, run.calib.file);
  return {
    rotation: plan, source, names, ids, spec,
    info: {
      method: run.method.name, options: { ...serialiseOptions(run.options), calibration: { file: run.calib.file, ...spec } },
      sourceDir: srcDir, architecture: cfg.family, runtime: manifestRuntime(runtime, plan), config: outConfig,
    },
  };
}

/** Quantizes every block of `model` in order on `be` into `sink` (the loop of this file's header), then finishes it. */
export async function calibrateInto(model: ModelDir, p: CalibratedPlan, sink: ModelSink, run: CalibratedRun, be: Backend): Promise<LowbitManifest> {
  const cfg = model.config;
  const ckpt = model.source as Checkpoint;
  const act = (run.runtime ?? NO_RUNTIME).activation;
  const { rotation, source, names, spec, ids } = p;
  const start = performance.now();
  const arch = architectureOf(cfg);
  const linearNames = arch.linearNames(cfg);
  const total = cfg.numLayers * linearNames.length;
  let done = 0;

  // Batches of windows, ~4096 tokens each, so per-batch intermediates stay small.
  const perBatch = Math.max(1, Math.floor(4096 / spec.seqLen));
  const batches: { ids: Int32Array; shape: { batch: number; seqLen: number } }[] = [];
  for (let s = 0; s < spec.samples; s += perBatch) {
    const b = Math.min(perBatch, spec.samples - s);
    batches.push({ ids: ids.subarray(s * spec.seqLen, (s + b) * spec.seqLen), shape: { batch: b, seqLen: spec.seqLen } });
  }
  const xs: Tensor[] = arch.embedFromSource(cfg, source, be, batches);
  for (const name of names) {
    if (arch.parseLinearWeightName(name)) continue;
    copyTensor(ckpt, sink, name, source);
  }
  // Statistics are summed on the device when it has solvers (not for routed experts, whose
  // per-expert token counts only the host path keeps); weights and statistics stay there when the
  // method can solve there too (else they are read back once a block for the host's solve).
  const deviceStats = be.solvers && !arch.inputGroups(cfg).some((g) => g.routed) ? be.solvers : null;
  const solvers = deviceStats && run.method.quantizeOnDevice ? deviceStats : null;
  let block: Block | null = arch.loadBlock(cfg, source, be, 0);
  for (let layer = 0; layer < cfg.numLayers; layer++) {
    const current: Block = block!;
    applyRuntime(current, act, rotation?.down ?? null);
    run.onProgress?.(done, total, `block ${layer}: statistics`);
    const shapes = batches.map((b) => b.shape);
    const stats = deviceStats ? await collectDeviceHessians(be, deviceStats, cfg, current, xs, shapes, act) : await collectHessians(be, cfg, current, xs, shapes, act);
    const quantizeLinear = async (name: string): Promise<QuantizedLayer & { name: string }> => {
      run.signal?.throwIfAborted();
      run.onProgress?.(done, total, `block ${layer}: ${name}`);
      const tensorName = arch.linearWeightName(layer, name);
      const [rows, cols] = source.shape(tensorName);
      const ggmlType = sink.ggmlTypeFor(tensorName, [rows, cols]);
      const options = ggmlType ? { ...run.options, ggmlType } : run.options;
      // The weight as loadBlock already read, checked and (if rotating) rotated it.
      const old = linearTensors(current.linears[name]);
      const h = stats[name];
      const onDevice = solvers && !(h instanceof HessianAccumulator)
        ? await quantizeLayerOnDevice(be, solvers, run.method, old.weight, h, rows, cols, options) : null;
      const solved = onDevice ?? await quantizeLayerOnHost(be, run.method, old.weight, await hostStats(be, h), rows, cols, options, ggmlType);
      be.free(old.weight);
      const { weight, lowRank } = solved;
      current.linears[name] = act || lowRank ? new QuantizedActLinear(weight, old.bias, act, lowRank) : new DenseLinear(weight, old.bias);
      done++;
      return { ...solved, name };
    };
    // On the device the block's linears are solved together: while one waits for a result read
    // back (a factor's status, its codes, its report), the others keep the device busy.
    const solved = solvers ? await Promise.all(linearNames.map(quantizeLinear)) : await inOrder(linearNames, quantizeLinear);
    if (deviceStats) new Set(Object.values(stats) as DeviceHessian[]).forEach((d) => [d.sum, d.quantized?.qq, d.quantized?.xq].forEach((t) => t && be.free(t)));
    run.signal?.throwIfAborted();
    run.onProgress?.(done, total, `block ${layer}: propagating`);
    // Host work done while the device propagates, a piece between batches: each layer written to
    // the sink (in order) and the next block's linear weights read ahead, then that block loaded.
    const hostWork: (() => void)[] = [];
    const ahead = new PrefetchedSource(source);
    solved.forEach(({ name, q, report }, i) => {
      hostWork.push(() => sink.quantized(arch.linearWeightName(layer, name).slice(0, -'.weight'.length), q, report));
      if (layer + 1 < cfg.numLayers) hostWork.push(() => ahead.prefetch(arch.linearWeightName(layer + 1, linearNames[i])));
    });
    block = null;
    if (layer + 1 < cfg.numLayers) hostWork.push(() => { block = arch.loadBlock(cfg, ahead, be, layer + 1); });
    for (let i = 0; i < xs.length; i++) {
      const next = arch.blockForward(be, cfg, current, xs[i], batches[i].shape);
      be.free(xs[i]);
      xs[i] = next;
      if ((i + 1) % HOST_WORK_EVERY === 0 || i === xs.length - 1) {
        await be.sync?.();
        hostWork.shift()?.();
      }
    }
    hostWork.forEach((work) => work());
    freeBlock(be, arch, current);
    await new Promise((r) => setTimeout(r, 0)); // lets progress and abort handlers run between blocks
  }
  xs.forEach((x) => be.free(x));
  return sink.finish((performance.now() - start) / 1000, { calibrationTokens: spec.samples * spec.seqLen });
}

/**
 * Batches propagated between the host's turns at other work (sink writes, the next block's load):
 * the device has as many queued while the host works (on the H100 ~45 ms each at 7B; a piece of
 * host work, one layer written or one weight read, takes ~0.1 s there).
 */
const HOST_WORK_EVERY = 4;

/** f applied to each item in turn, each call awaited before the next starts. */
async function inOrder<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await f(item));
  return out;
}

/** A layer quantized: what is saved, its report, and its dequantized weight on the backend. */
interface QuantizedLayer {
  q: QuantizedWeight;
  report: LayerReport;
  weight: Tensor;
  /** LRC's U and V (q.lowRank) on the backend, or null. */
  lowRank: { u: Tensor; v: Tensor } | null;
}

/** A QuantizedWeight's low-rank factors uploaded to the backend (null without them). */
function uploadLowRank(be: Backend, q: QuantizedWeight, rows: number, cols: number): { u: Tensor; v: Tensor; rank: number } | null {
  return q.lowRank ? { u: be.upload(q.lowRank.u, [rows, q.lowRank.rank]), v: be.upload(q.lowRank.v, [cols, q.lowRank.rank]), rank: q.lowRank.rank } : null;
}

/** The method on host matrices: the weight and statistics read from the backend, the result uploaded back. */
async function quantizeLayerOnHost(be: Backend, method: CalibratedMethod, weight: Tensor, stats: LayerStats, rows: number, cols: number, options: QuantOptions, ggmlType: string | null | undefined): Promise<QuantizedLayer> {
  const w = await be.read(weight);
  const q = method.quantize(w, rows, cols, stats, options);
  const rtn = (ggmlType ? ggmlRtn(w, rows, cols, ggmlType) : groupGridWeight(quantizeRtn(w, rows, cols, options))).dequantize();
  const low = q.lowRank ? lowRankProduct(q.lowRank.u, q.lowRank.v, rows, cols, q.lowRank.rank) : null;
  const wHat = q.dequantize();
  const report: LayerReport = {
    ...q.report,
    relError: layerRelativeError(w, wHat, low, rows, cols, stats),
    rtnRelError: layerRelativeError(w, rtn, null, rows, cols, stats),
  };
  return { q, report, weight: be.upload(wHat, [rows, cols]), lowRank: uploadLowRank(be, q, rows, cols) };
}

/** The method on the device (DeviceLayer), or null when these options need the host; errors measured there too. */
async function quantizeLayerOnDevice(be: Backend, solvers: DeviceSolvers, method: CalibratedMethod, weight: Tensor, h: DeviceHessian, rows: number, cols: number, options: QuantOptions): Promise<QuantizedLayer | null> {
  const done = method.quantizeOnDevice?.({ solvers, weight, hessian: h.sum, tokens: h.tokens, rows, cols, ...(h.quantized ? { quantizedInput: h.quantized } : {}) }, options);
  if (!done) return null;
  const { weight: q, dequantized } = await done;
  const stats = { hessian: h.sum, quantized: h.quantized };
  const low = uploadLowRank(be, q, rows, cols);
  const rtn = rtnOnDevice(solvers, weight, options);
  const [relError, rtnRelError] = await layerRelativeErrorsOnDevice(solvers, weight, [{ wHat: dequantized, low }, { wHat: rtn, low: null }], stats, rows, cols);
  be.free(rtn);
  return { q, report: { ...q.report, relError, rtnRelError, solvedOnDevice: true }, weight: dequantized, lowRank: low };
}

/** Device Hessians already read back: the linears of one input group share theirs. */
const readBack = new WeakMap<DeviceHessian, Promise<LayerStats>>();

/** A layer's statistics on the host: as gathered there, or read from the device (once per input group). */
async function hostStats(be: Backend, h: HessianAccumulator | DeviceHessian): Promise<LayerStats> {
  if (h instanceof HessianAccumulator) return { hessian: h.sum, tokens: h.tokens, ...(h.quantized ? { quantizedInput: h.quantized } : {}) };
  let stats = readBack.get(h);
  if (!stats) {
    const read = async (t: Tensor) => Float64Array.from(await be.read(t));
    stats = (async () => ({
      hessian: await read(h.sum), tokens: h.tokens,
      ...(h.quantized ? { quantizedInput: { qq: await read(h.quantized.qq), xq: await read(h.quantized.xq) } } : {}),
    }))();
    readBack.set(h, stats);
  }
  return stats;
}

/** H = X^T X of one input group, summed on the device; with activation quantization also X~^T X~ and X^T X~. */
export interface DeviceHessian {
  sum: Tensor;
  tokens: number;
  quantized?: { qq: Tensor; xq: Tensor };
}

/**
 * collectHessians on the device (no routed experts): each batch's X^T X is added into one f32 sum
 * per input group by a product with beta = 1 on the tiles of the upper triangle (half the work),
 * mirrored once at the end; with activation quantization X~ = Q_a(X) gives X~^T X~ (the same way)
 * and X^T X~ (not symmetric: whole). Nothing is read back.
 */
export async function collectDeviceHessians(be: Backend, solvers: DeviceSolvers, cfg: Model['config'], block: Block, xs: Tensor[], shapes: { batch: number; seqLen: number }[], act: ActQuantSpec | null = null): Promise<Record<string, DeviceHessian>> {
  const arch = architectureOf(cfg);
  const groups = arch.inputGroups(cfg);
  const square = (d: number) => solvers.zeros([d, d]);
  const first = new Map(groups.map((g): [string, DeviceHessian] => [g.members[0], { sum: square(g.dim), tokens: 0, ...(act ? { quantized: { qq: square(g.dim), xq: square(g.dim) } } : {}) }]));
  /** sum += a^T b over the batch's n rows (upperOnly: a = b, the upper tiles). */
  const addProduct = (sum: Tensor, a: Tensor, b: Tensor, upperOnly: boolean) => {
    const [n, d] = rowsCols(a);
    solvers.gemm(matrixView(sum), matrixView(a), matrixView(b), { m: d, n: d, k: n, transA: true, alpha: 1, beta: 1, upperOnly });
  };
  for (let i = 0; i < xs.length; i++) {
    const out = arch.blockForward(be, cfg, block, xs[i], shapes[i], (name, input) => {
      const h = first.get(name); // one observation per group: its first member's input
      if (!h) return;
      addProduct(h.sum, input, input, true);
      if (h.quantized) {
        const xq = be.actQuant(input, act!);
        addProduct(h.quantized.qq, xq, xq, true);
        addProduct(h.quantized.xq, input, xq, false);
        be.free(xq);
      }
      h.tokens += rowsCols(input)[0];
    });
    be.free(out);
    await be.sync?.();
  }
  for (const h of first.values()) [h.sum, h.quantized?.qq].forEach((t) => t && solvers.symmetrize(t));
  const stats: Record<string, DeviceHessian> = {};
  for (const g of groups) for (const m of g.members) stats[m] = first.get(g.members[0])!;
  return stats;
}

/**
 * An expert (Mixtral) routed fewer calibration tokens than this gets the statistics of every token
 * that reached its block instead, as if it had been routed all of them: a Hessian from a handful of
 * tokens is too low in rank for GPTQ's or QuantEase's solve to mean anything (GPTQModel and
 * llm-compressor face the same problem; with none at all there is nothing to solve).
 */
export const MIN_ROUTED_TOKENS = 16;

/**
 * Runs the block on every batch and returns, for every linear, the statistics of its input (the
 * linears of one input group share one accumulator): H = X^T X and, with activation quantization,
 * X~^T X~ and X^T X~ (X~ = Q_a(X)). An expert's statistics count the tokens routed to it (the
 * rows its routing weight is non-zero), with MIN_ROUTED_TOKENS's fallback.
 */
export async function collectHessians(be: Backend, cfg: Model['config'], block: Block, xs: Tensor[], shapes: { batch: number; seqLen: number }[], act: ActQuantSpec | null = null): Promise<Record<string, HessianAccumulator>> {
  const arch = architectureOf(cfg);
  const groups = arch.inputGroups(cfg);
  // Per group: its accumulator, and for routed groups one over all tokens (the fallback).
  const first = new Map<string, { group: InputGroup; acc: HessianAccumulator; all: HessianAccumulator | null }>();
  for (const g of groups) first.set(g.members[0], { group: g, acc: new HessianAccumulator(g.dim, act !== null), all: g.routed ? new HessianAccumulator(g.dim, act !== null) : null });
  for (let i = 0; i < xs.length; i++) {
    const grams: { acc: HessianAccumulator; xx: Tensor; qq?: Tensor; xq?: Tensor; n: number | Tensor }[] = [];
    const observe = (acc: HessianAccumulator, input: Tensor, n: number | Tensor) => {
      const entry: (typeof grams)[number] = { acc, xx: be.gram(input), n };
      if (act) {
        const xq = be.actQuant(input, act);
        entry.qq = be.gram(xq);
        entry.xq = be.matmul(input, xq, { transA: true });
        be.free(xq);
      }
      grams.push(entry);
    };
    const out = arch.blockForward(be, cfg, block, xs[i], shapes[i], (name, input, routing) => {
      const f = first.get(name); // one observation per group: its first member's input
      if (!f) return;
      if (!f.all || !routing) return observe(f.acc, input, input.shape[0]);
      // The routed rows only (zero rows add nothing to X^T X), counted from the routing column.
      const routed = be.scaleRows(input, routing.weights, routing.expert, true);
      const ones = be.upload(new Float32Array(input.shape[0]).fill(1), [input.shape[0], 1]);
      const count = be.scaleRows(ones, routing.weights, routing.expert, true);
      be.free(ones);
      observe(f.acc, routed, count);
      be.free(routed);
      observe(f.all, input, input.shape[0]);
    });
    be.free(out);
    for (const g of grams) {
      let n = g.n;
      if (typeof n !== 'number') {
        n = (await be.read(n)).reduce((s, v) => s + v, 0);
        be.free(g.n as Tensor);
      }
      g.acc.addGram(await be.read(g.xx), n);
      be.free(g.xx);
      if (g.qq && g.xq) {
        HessianAccumulator.addInto(g.acc.quantized!.qq, await be.read(g.qq));
        HessianAccumulator.addInto(g.acc.quantized!.xq, await be.read(g.xq));
        be.free(g.qq);
        be.free(g.xq);
      }
    }
  }
  const stats: Record<string, HessianAccumulator> = {};
  for (const { group, acc, all } of first.values()) {
    const chosen = all && acc.tokens < MIN_ROUTED_TOKENS ? all : acc;
    for (const m of group.members) stats[m] = chosen;
  }
  return stats;
}

function freeBlock(be: Backend, arch: Architecture, block: Block): void {
  for (const t of arch.blockTensors(block)) be.free(t);
  for (const l of Object.values(block.linears)) {
    const t = linearTensors(l);
    for (const x of [t.weight, t.bias, t.lowRank?.u, t.lowRank?.v]) if (x) be.free(x);
  }
}
