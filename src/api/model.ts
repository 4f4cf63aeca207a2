/**
 * Models in memory: `loadModel` puts a model (Hugging Face or lowbit directory, or GGUF file) on a
 * backend once, and `evaluate` / `generate` run on it. The functions of the same names that take a
 * path load, run and dispose in one call.
 */
import type { ModelConfig } from '../arch/config.js';
import { createBackend, type Backend } from '../backend/index.js';
import type { GgufSummary } from '../export/gguf/reader.js';
import type { ManifestRuntime } from '../export/manifest.js';
import { generate as generateTokens, textStreamer } from '../eval/generate.js';
import { checkTokenIds, evaluateTokens, loadModelDir, type EvalReport, type LoadedModelDir } from '../eval/run.js';
import { tokenizeFile, type TextTokenizer } from '../io/tokenizer.js';
import { kernelDescription } from '../native/index.js';
import { LowbitError } from '../util/errors.js';
import { checkOptions, withDefaults } from '../util/options.js';
import {
  EVALUATE_OPTIONS, GENERATE_OPTIONS, LOAD_OPTIONS, RUN_CONTROL_KEYS, TASK_OPTIONS,
  type EvaluateOptions, type GenerateOptions, type LoadModelOptions, type TaskOptions,
} from './options.js';
import { harnessResults, resolveTaskFiles, runTasks, type HarnessResults, type TaskResult } from '../eval/tasks/run.js';
import { reporter } from './progress.js';

/** Text to evaluate on: the text itself, its token ids, or a UTF-8 file. */
export type EvaluationData = string | ArrayLike<number> | { file: string };

/** How a lowbit-quantized model was made (null for an unquantized one). */
export interface QuantizationInfo {
  method: string;
  options: Record<string, unknown>;
  bitsPerWeight: number;
  /** Activation quantization and rotation it runs with. */
  runtime: ManifestRuntime | null;
}

export interface EvaluateResult extends EvalReport {
  /** The process's peak resident memory so far, MiB. */
  peakRssMiB: number;
  /** The kernels that ran: native CPU kernels (with their SIMD and threads), TypeScript, or the GPU. */
  kernels: string;
}

/**
 * Zero-shot task results: lowbit's per-task detail (`tasks`) beside lm-evaluation-harness's JSON
 * shape (`results`, `versions`, `n-samples`, `config`), so tools that read the harness's output read this.
 */
export interface TasksResult extends HarnessResults {
  tasks: TaskResult[];
  seconds: number;
}

export interface GenerateResult {
  prompt: string;
  /** The generated text (the prompt excluded). */
  text: string;
  /** Generated token ids. */
  tokens: number[];
  promptTokens: number;
  prefillSeconds: number;
  tokensPerSecond: number;
}

/** A model on a backend (CPU or GPU). Call `dispose()` when done: a GPU holds its memory until then. */
export class LoadedModel {
  private disposed = false;

  private constructor(
    /** The directory or GGUF file it was loaded from. */
    readonly path: string,
    private readonly backend: Backend,
    private readonly loaded: LoadedModelDir,
    private readonly tokenizer: TextTokenizer,
  ) {}

  /** @internal Use loadModel(). */
  static async load(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
    checkOptions('loadModel', LOAD_OPTIONS, options, RUN_CONTROL_KEYS);
    const o = withDefaults(LOAD_OPTIONS, options);
    const backend = await createBackend(o.device);
    try {
      const loaded = loadModelDir(backend, path, reporter(o.onProgress, 'load', 'tensors'), o.packed ?? 'auto', o.signal);
      return new LoadedModel(path, backend, loaded, loaded.info.tokenizer());
    } catch (e) {
      backend.dispose?.();
      throw e;
    }
  }

  get config(): ModelConfig {
    return this.loaded.model.config;
  }

  get quantization(): QuantizationInfo | null {
    const m = this.loaded.info.manifest;
    return m && { method: m.method, options: m.options, bitsPerWeight: m.summary.bitsPerWeight, runtime: m.runtime ?? null };
  }

  /** GGUF details (tensor types, metadata) when loaded from a GGUF file. */
  get gguf(): GgufSummary | undefined {
    return this.loaded.info.gguf;
  }

  /** The backend it runs on, e.g. "cpu" or "webgpu (NVIDIA H100 ...)". */
  get device(): string {
    return this.backend.name;
  }

  /** Token ids of `text` by the model's tokenizer, without BOS (as lowbit evaluates). */
  encode(text: string): number[] {
    return Array.from(this.tokenizer.encode(text));
  }

  decode(ids: ArrayLike<number>): string {
    return this.tokenizer.decode(ids);
  }

  /** Perplexity on `data` by the GPTQ papers' protocol (non-overlapping windows, no BOS). */
  async evaluate(data: EvaluationData, options: EvaluateOptions = {}): Promise<EvaluateResult> {
    this.checkLive();
    checkOptions('evaluate', EVALUATE_OPTIONS, options, RUN_CONTROL_KEYS);
    const o = withDefaults(EVALUATE_OPTIONS, options);
    const { tokens, name } = this.tokensOf(data);
    const report = await evaluateTokens(this.backend, this.loaded, this.path, tokens, name, {
      seqLen: o.seqLen!, maxWindows: o.maxWindows, batch: o.batch, beyondContext: o.beyondContext,
      onProgress: reporter(o.onProgress, 'evaluate', 'windows'), signal: o.signal,
    });
    return { ...report, peakRssMiB: process.resourceUsage().maxRSS / 1024, kernels: report.backend.startsWith('cpu') ? kernelDescription() : report.backend };
  }

  /**
   * Zero-shot accuracy on lm-evaluation-harness tasks (`tasks` with their files in `taskDir`) and on
   * your own multiple-choice files (`tasksFile`), scored as the harness scores them.
   */
  async evaluateTasks(options: TaskOptions): Promise<TasksResult> {
    this.checkLive();
    checkOptions('evaluateTasks', TASK_OPTIONS, options, RUN_CONTROL_KEYS);
    const files = resolveTaskFiles(options.tasks ?? [], options.taskDir, options.tasksFile ?? []);
    if (files.length === 0) throw new LowbitError('evaluateTasks: name tasks (--tasks with --task-dir) or give tasksFile (--tasks-file)');
    const start = performance.now();
    const tasks = await runTasks(this.backend, this.loaded.model, this.tokenizer, files, {
      limit: options.limit, onProgress: reporter(options.onProgress, 'evaluate', 'requests'), signal: options.signal,
    });
    return { ...harnessResults(tasks, this.path, options.limit), tasks, seconds: (performance.now() - start) / 1000 };
  }

  /** Continues `prompt` (tokenized without BOS) with a KV cache, greedy or sampled. */
  async generate(prompt: string, options: GenerateOptions = {}): Promise<GenerateResult> {
    this.checkLive();
    checkOptions('generate', GENERATE_OPTIONS, options, [...RUN_CONTROL_KEYS, 'onText']);
    const o = withDefaults(GENERATE_OPTIONS, options);
    const { model } = this.loaded;
    const ids = checkTokenIds(this.tokenizer.encode(prompt), model.config.vocabSize, this.path);
    const progress = reporter(o.onProgress, 'generate', 'tokens');
    const stream = o.onText ? textStreamer(this.tokenizer, o.onText) : undefined;
    let count = 0;
    const r = await generateTokens(this.backend, model, {
      prompt: ids, maxTokens: o.maxTokens!, stopToken: model.config.eosTokenId, signal: o.signal,
      sampling: { temperature: o.temperature!, topK: o.topK!, topP: o.topP!, seed: o.seed! },
      onToken: (id) => {
        stream?.(id);
        progress(++count, o.maxTokens!);
      },
    });
    return { prompt, text: this.tokenizer.decode(r.tokens), tokens: r.tokens, promptTokens: r.promptTokens, prefillSeconds: r.prefillSeconds, tokensPerSecond: r.tokensPerSecond };
  }

  /** Frees the model's memory (on a GPU, its buffers and device). The model cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.dispose?.();
  }

  private checkLive(): void {
    if (this.disposed) throw new LowbitError('the model was disposed', this.path);
  }

  private tokensOf(data: EvaluationData): { tokens: Int32Array; name: string } {
    if (typeof data === 'string') return { tokens: this.tokenizer.encode(data), name: '(text)' };
    if ('file' in data && typeof data.file === 'string') return { tokens: tokenizeFile(this.tokenizer, data.file), name: data.file };
    const ids = Int32Array.from(data as ArrayLike<number>);
    for (let i = 0; i < ids.length; i++) if (ids[i] !== (data as ArrayLike<number>)[i]) throw new LowbitError(`evaluate: token ${i} is not an integer id: ${(data as ArrayLike<number>)[i]}`);
    return { tokens: ids, name: '(tokens)' };
  }
}

/** Loads a model (Hugging Face or lowbit directory, or GGUF file) onto the CPU or the GPU. */
export function loadModel(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  return LoadedModel.load(path, options);
}

/** Runs `use` on `model`: a loaded model as it is, or a path loaded for the call and disposed after. */
async function withModel<T>(model: string | LoadedModel, given: object, use: (m: LoadedModel, rest: Record<string, unknown>) => Promise<T>): Promise<T> {
  const options = given as Record<string, unknown>;
  if (model instanceof LoadedModel) return use(model, options);
  const { device, packed, ...rest } = options;
  const loaded = await loadModel(model, { device, packed, onProgress: options.onProgress, signal: options.signal } as LoadModelOptions);
  try {
    return await use(loaded, rest);
  } finally {
    loaded.dispose();
  }
}

/** Perplexity of a model on `data`: `model` is a path (loaded for the call) or a loaded model. */
export function evaluate(model: string | LoadedModel, data: EvaluationData, options: EvaluateOptions & Omit<LoadModelOptions, 'onProgress' | 'signal'> = {}): Promise<EvaluateResult> {
  return withModel(model, options, (m, rest) => m.evaluate(data, rest as EvaluateOptions));
}

/** Zero-shot task accuracy of a model: `model` is a path (loaded for the call) or a loaded model. */
export function evaluateTasks(model: string | LoadedModel, options: TaskOptions & Omit<LoadModelOptions, 'onProgress' | 'signal'>): Promise<TasksResult> {
  return withModel(model, options, (m, rest) => m.evaluateTasks(rest as TaskOptions));
}

/** Generated text after `prompt`: `model` is a path (loaded for the call) or a loaded model. */
export function generate(model: string | LoadedModel, prompt: string, options: GenerateOptions & Omit<LoadModelOptions, 'onProgress' | 'signal'> = {}): Promise<GenerateResult> {
  return withModel(model, options, (m, rest) => m.generate(prompt, rest as GenerateOptions));
}
