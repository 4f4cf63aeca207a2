/**
 * Runs zero-shot tasks on a loaded model: each document's requests are scored (loglikelihood.ts),
 * the task turns the scores into the document's metrics, and the mean over documents with its
 * standard error is the result, reported in the shape lm-evaluation-harness writes
 * (results[task]["acc,none"], ["acc_stderr,none"], ...), so tools that read its JSON read lowbit's.
 */
import { baseName, exists, joinPath } from '../../io/host.js';
import type { Model } from '../../arch/layers.js';
import type { Backend } from '../../backend/index.js';
import type { TextTokenizer } from '../../io/tokenizer.js';
import { readRecords } from '../../io/records.js';
import { LowbitError } from '../../util/errors.js';
import { encodePair, scoreEncoded, type Score, type ScoringRequest } from '../loglikelihood.js';
import { genericMultipleChoice } from './generic.js';
import { TASKS, TASK_ALIASES } from './registry.js';
import { hasFieldType, type Doc, type FieldType, type MetricName, type Task } from './task.js';

/** A task and the file its documents come from. */
export interface TaskFile {
  task: Task;
  file: string;
}

export interface MetricValue {
  value: number;
  /** Standard error of the mean over documents (perplexity: by the delta method); null for one document. */
  stderr: number | null;
}

export interface TaskResult {
  task: string;
  /** The harness's version of the task's YAML. */
  version: number;
  file: string;
  /** Documents in the file, and evaluated (--limit). */
  docs: { original: number; effective: number };
  requests: number;
  metrics: Partial<Record<MetricName, MetricValue>>;
  seconds: number;
}

/** The harness's result JSON (results, versions, n-samples), for lowbit's task results. */
export interface HarnessResults {
  results: Record<string, Record<string, number | string>>;
  versions: Record<string, number>;
  'n-samples': Record<string, { original: number; effective: number }>;
  config: { model: string; limit: number | null };
}

/** Where task `name`'s data is in `dir`: <name>.jsonl, .json or .parquet (the first that exists), or undefined. */
export function taskFileIn(dir: string, name: string): string | undefined {
  return ['jsonl', 'json', 'parquet'].map((ext) => joinPath(dir, `${name}.${ext}`)).find((f) => exists(f));
}

/** A task's name from its data file's name (my-set.jsonl -> my-set). */
export function taskNameOf(file: string): string {
  return baseName(file).replace(/\.(jsonl|json|parquet)$/i, '');
}

/** The files for `--tasks a,b --task-dir DIR` (DIR/<task>.jsonl, .json or .parquet) and `--tasks-file f,g` (your own). */
export function resolveTaskFiles(tasks: readonly string[], taskDir: string | undefined, tasksFiles: readonly string[]): TaskFile[] {
  const out: TaskFile[] = [];
  for (const given of tasks) {
    const name = TASK_ALIASES[given] ?? given;
    const task = TASKS[name];
    if (!task) throw new LowbitError(`unknown task ${given} (tasks: ${Object.keys(TASKS).join(', ')}; your own multiple-choice JSONL: --tasks-file)`);
    if (!taskDir) throw new LowbitError(`task ${name} needs its data: pass --task-dir <dir> holding ${name}.jsonl or ${name}.parquet (${task.source})`);
    const file = taskFileIn(taskDir, name);
    if (!file) throw new LowbitError(`no ${name}.jsonl, ${name}.json or ${name}.parquet for task ${name} (${task.source})`, taskDir);
    out.push({ task, file });
  }
  for (const file of tasksFiles) out.push({ task: genericMultipleChoice(taskNameOf(file)), file });
  return out;
}

/** A document as the task prepared it, with its scoring requests. */
export interface PreparedDoc {
  doc: Doc;
  requests: ScoringRequest[];
}

/**
 * The task's documents from its file: every field checked for the type the task reads, prepared as
 * the harness does, and turned into requests, so a bad document is reported (file, document number)
 * before anything is scored.
 */
export async function loadDocs(t: TaskFile, limit?: number): Promise<{ docs: PreparedDoc[]; original: number }> {
  const records = await readRecords(t.file);
  if (records.length === 0) throw new LowbitError(`no documents for task ${t.task.name}`, t.file);
  const docs = records.slice(0, limit ?? records.length).map((record, i) => {
    const where = `document ${i + 1}`;
    for (const [field, type] of Object.entries(t.task.fields))
      if (!hasFieldType(record[field], type))
        throw new LowbitError(`${where}: ${field in record ? `field ${field} is not ${FIELD_TYPE_NAMES[type]}` : `lacks ${field}`} (task ${t.task.name} reads ${Object.keys(t.task.fields).join(', ')}; ${t.task.source})`, t.file);
    try {
      const doc = t.task.prepare ? t.task.prepare(record) : record;
      return { doc, requests: t.task.requests(doc) };
    } catch (e) {
      if (e instanceof LowbitError) throw new LowbitError(`${where}: ${e.problem}`, t.file);
      throw e;
    }
  });
  return { docs, original: records.length };
}

const FIELD_TYPE_NAMES: Record<FieldType, string> = { string: 'a string', strings: 'a list of strings', index: 'a non-negative integer', object: 'an object' };

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** The harness's mean_stderr: sample standard deviation (n - 1) over sqrt(n). */
export function meanStderr(xs: number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) * (x - m), 0) / (xs.length - 1) / xs.length);
}

/** Mean (acc) or exp(-mean) (perplexity) over documents, with the standard error. */
export function aggregate(metric: MetricName, values: number[]): MetricValue {
  const se = meanStderr(values);
  if (metric !== 'perplexity') return { value: mean(values), stderr: se };
  const ppl = Math.exp(-mean(values));
  return { value: ppl, stderr: se === null ? null : ppl * se };
}

export interface TaskRunOptions {
  limit?: number;
  /** Requests scored so far, of all tasks' requests. */
  onProgress?: (done: number, total: number, task: string) => void;
  signal?: AbortSignal;
}

export async function runTasks(be: Backend, model: Model, tok: TextTokenizer, files: TaskFile[], opts: TaskRunOptions = {}): Promise<TaskResult[]> {
  const prefixToken = model.config.bosTokenId ?? model.config.eosTokenId ?? 0;
  const loaded = [];
  for (const f of files) loaded.push({ ...f, ...(await loadDocs(f, opts.limit)) });
  const total = loaded.reduce((s, l) => s + l.docs.reduce((n, d) => n + d.requests.length, 0), 0);
  let done = 0;
  const results: TaskResult[] = [];
  for (const { task, file, docs, original } of loaded) {
    const start = performance.now();
    const perDoc: Partial<Record<MetricName, number>>[] = [];
    let requests = 0;
    for (const [i, { doc, requests: reqs }] of docs.entries()) {
      const scores: Score[] = [];
      for (const req of reqs) {
        opts.signal?.throwIfAborted();
        scores.push(await scoreEncoded(be, model, encodePair(tok, req, prefixToken)));
        opts.onProgress?.(++done, total, task.name);
        requests++;
      }
      try {
        perDoc.push(task.score(doc, scores));
      } catch (e) {
        if (e instanceof LowbitError) throw new LowbitError(`document ${i + 1}: ${e.problem}`, file);
        throw e;
      }
    }
    const metrics: TaskResult['metrics'] = {};
    for (const m of task.metrics) metrics[m] = aggregate(m, perDoc.map((d) => d[m]!));
    results.push({ task: task.name, version: task.version, file, docs: { original, effective: docs.length }, requests, metrics, seconds: (performance.now() - start) / 1000 });
  }
  return results;
}

/** lowbit's task results in the harness's JSON shape ("acc,none", "acc_stderr,none", ...; stderr "N/A" when none). */
export function harnessResults(results: TaskResult[], model: string, limit: number | undefined): HarnessResults {
  const out: HarnessResults = { results: {}, versions: {}, 'n-samples': {}, config: { model, limit: limit ?? null } };
  for (const r of results) {
    const entry: Record<string, number | string> = { alias: r.task };
    for (const [m, v] of Object.entries(r.metrics)) {
      entry[`${m},none`] = v.value;
      entry[`${m}_stderr,none`] = v.stderr ?? 'N/A';
    }
    out.results[r.task] = entry;
    out.versions[r.task] = r.version;
    out['n-samples'][r.task] = r.docs;
  }
  return out;
}
