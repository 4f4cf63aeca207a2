/**
 * The page's worker: everything lowbit does in the browser happens here, off the page's thread, so
 * the tab stays responsive. It mounts the picked folder (browser-files.ts), resolves the choices as
 * `lowbit quantize` does (api/quantize-options.ts), and runs the same loops as Node: RTN streams the
 * checkpoint (pipeline/data-free-stream.ts) with its tensors quantized by a pool of job workers;
 * GPTQ and QuantEase go block by block on the calibration text (pipeline/calibrated-blocks.ts) on
 * WebGPU or the CPU. It writes the GGUF file with the same writer, and evaluates perplexity before
 * and after when given a text.
 */
import { planQuantize } from '../api/quantize-options.js';
import type { ModelConfig } from '../arch/config.js';
import { createBackend } from '../backend/index.js';
import { evaluateTokens, loadModelDir } from '../eval/run.js';
import { GgufModelWriter } from '../export/gguf/writer.js';
import { checkGgufExportable } from '../export/gguf/names.js';
import { openModelDir } from '../export/reader.js';
import type { ModelSink } from '../export/sink.js';
import type { LowbitManifest } from '../export/manifest.js';
import { useFileHost } from '../io/host.js';
import { METHODS } from '../quant/registry.js';
import { totalBits } from '../quant/types.js';
import type { DataFreeMethod } from '../quant/method.js';
import { planDataFree, streamDataFree } from '../pipeline/data-free-stream.js';
import { JobPool, type JobPort } from '../pipeline/job-pool.js';
import { calibrateInto, planCalibrated } from '../pipeline/calibrated-blocks.js';
import type { CalibratedMethod } from '../quant/method.js';
import type { WorkerReply } from '../pipeline/data-free-job.js';
import { LowbitError } from '../util/errors.js';
import { BrowserFiles, type MountedFile } from './browser-files.js';
import type { QuantizeRequest, WorkerMessage } from './protocol.js';

const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: WorkerMessage): void };
const post = (m: WorkerMessage) => scope.postMessage(m);

/** Job workers (job-worker.ts), each with the picked files mounted, as the pool's ports. */
function webWorkerPool(size: number, files: MountedFile[]): JobPool {
  return new JobPool(Array.from({ length: size }, (): JobPort => {
    const w = new Worker(new URL('./job-worker.js', import.meta.url), { type: 'module' });
    w.postMessage({ files });
    return {
      send: (job) => w.postMessage(job),
      listen: (onReply, onError) => {
        w.onmessage = (e: MessageEvent<WorkerReply>) => onReply(e.data);
        w.onerror = (e) => onError(e.message);
      },
      terminate: () => w.terminate(),
    };
  }));
}

/** The folder the picked files share ("kdoc-6m"), which names the model as a directory name does in Node. */
function rootOf(files: MountedFile[]): string {
  const roots = new Set(files.map((f) => f.path.split('/')[0]));
  if (files.length === 0) throw new LowbitError('the folder is empty: pick a model folder (config.json, *.safetensors, tokenizer.json)');
  if (roots.size !== 1) throw new LowbitError(`pick one model folder (these files come from ${[...roots].join(', ')})`);
  return `/${[...roots][0]}`;
}

/** A sink that reports each layer to the page as it is written. */
function reportingLayers(sink: GgufModelWriter): ModelSink {
  return {
    ggmlTypeFor: (name, shape) => sink.ggmlTypeFor(name, shape),
    passthrough: (...a) => sink.passthrough(...a),
    passthroughF32: (...a) => sink.passthroughF32(...a),
    quantized(layer, q, report) {
      sink.quantized(layer, q, report);
      // Data-free methods report the weight's error, calibrated ones the layer output's (||WX - W^X|| / ||WX||, squared).
      const err = report?.weightRelError ?? report?.relError;
      post({ kind: 'layer', layer, type: String(q.params.type), bitsPerWeight: totalBits(q.bits) / (q.rows * q.cols), relError: typeof err === 'number' ? err : null });
    },
    finish: (seconds, extra) => sink.finish(seconds, extra),
  };
}

/** Perplexity of the model at `path` on the text, on a backend of its own (released after: a GPU holds the weights until then). */
async function perplexityOf(device: 'gpu' | 'cpu', path: string, text: string, seqLen: number | undefined, which: 'before' | 'after'): Promise<void> {
  post({ kind: 'stage', text: `evaluating perplexity ${which} quantization` });
  const start = performance.now();
  const backend = await createBackend(device === 'gpu' ? 'auto' : 'cpu');
  let loaded: ReturnType<typeof loadModelDir> | null = null;
  try {
    loaded = loadModelDir(backend, path);
    const tokens = loaded.info.tokenizer().encode(text);
    const window = Math.min(seqLen ?? Math.min(512, loaded.model.config.maxPositions), tokens.length - 1);
    if (window < 2) throw new LowbitError('the evaluation text is too short (fewer than 3 tokens)');
    const r = await evaluateTokens(backend, loaded, path, tokens, 'the dropped text', { seqLen: window });
    post({ kind: 'perplexity', which, perplexity: r.ppl, tokens: r.predictedTokens, backend: backend.name, seconds: (performance.now() - start) / 1000 });
  } finally {
    loaded?.info.close();
    backend.dispose?.();
  }
}

async function quantize(req: QuantizeRequest): Promise<void> {
  const host = new BrowserFiles(req.files);
  useFileHost(host);
  const root = rootOf(req.files);
  const name = `${root.slice(1)}-${req.gguf}.gguf`;
  const out = `/out/${name}`;
  host.mkdir('/out');
  const calib = req.calib ? `/calibration/${req.calib.name}` : undefined;
  if (req.calib) host.put(calib!, req.calib.file);
  // The same resolution as `lowbit quantize <dir> --method <m> --gguf <type> [--calib ...]`: the options recorded in the file match.
  const { o, options, runtime, gguf } = planQuantize({
    method: req.method, gguf: req.gguf, out, calib, ...(req.calib ? { calibSamples: req.calib.samples, calibSeqLen: req.calib.seqLen } : {}),
  });
  post({ kind: 'stage', text: 'reading the checkpoint' });
  const model = openModelDir(root);
  try {
    const method = METHODS[o.method];
    const onProgress = (done: number, total: number, what: string) => post({ kind: 'progress', done, total, tensor: what });
    checkGgufExportable(model.config, root);
    if (req.evalText) await perplexityOf(req.device, root, req.evalText, req.seqLen, 'before');
    post({ kind: 'stage', text: `quantizing to ${req.gguf} (${o.method})` });
    const start = performance.now();
    // The GGUF writer behind the per-layer reports; its body file is removed when the work fails.
    const intoGguf = async (info: { config: ModelConfig; method: string; options: Record<string, unknown> }, work: (sink: ModelSink) => Promise<LowbitManifest>) => {
      const writer = new GgufModelWriter(out, { config: info.config, sourceDir: root, target: gguf!.target, overrides: gguf!.overrides, method: info.method, options: info.options });
      try {
        return await work(reportingLayers(writer));
      } catch (e) {
        writer.abort();
        throw e;
      }
    };
    let manifest: LowbitManifest;
    if (method.kind === 'data-free') {
      const run = { method: method as DataFreeMethod, options, runtime, gguf, onProgress };
      const plan = planDataFree(model, root, run);
      const pool = webWorkerPool(Math.max(1, req.workers), req.files);
      try {
        manifest = await intoGguf(plan.info, (sink) => streamDataFree(root, plan, sink, run, pool));
      } finally {
        void pool.close();
      }
    } else {
      const run = { method: method as CalibratedMethod, options, runtime, gguf, onProgress, calib: { file: calib!, samples: o.calibSamples, seqLen: o.calibSeqLen, seed: o.calibSeed } };
      const plan = planCalibrated(model, root, run);
      const backend = await createBackend(req.device === 'gpu' ? 'auto' : 'cpu');
      try {
        manifest = await intoGguf(plan.info, (sink) => calibrateInto(model, plan, sink, run, backend));
      } finally {
        backend.dispose?.();
      }
    }
    const seconds = (performance.now() - start) / 1000;
    if (req.evalText) await perplexityOf(req.device, out, req.evalText, req.seqLen, 'after');
    const blob = host.blob(out);
    post({ kind: 'done', gguf: blob, name, bytes: blob.size, bitsPerWeight: manifest.summary.bitsPerWeight, seconds, params: manifest.summary.quantizedParams });
  } finally {
    model.close();
  }
}

/** One readable line for the page: lowbit's own errors as they are, memory exhaustion said plainly. */
export function describeFailure(e: unknown): string {
  if (e instanceof LowbitError) return e.message;
  if (e instanceof RangeError && /allocat|memory|Array buffer/i.test(e.message)) return `not enough memory for this model in the browser (${e.message})`;
  return `internal error: ${(e as Error)?.message ?? String(e)}`;
}

scope.onmessage = (e: MessageEvent<QuantizeRequest>) => {
  quantize(e.data).catch((err) => post({ kind: 'error', message: describeFailure(err) }));
};
