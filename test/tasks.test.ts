/**
 * Zero-shot tasks against lm-evaluation-harness and transformers: test/fixtures/oracle-tasks.json
 * (scripts/oracle/tasks_oracle.py on the GPU machine) holds, for kdoc-6m on the task fixtures
 * (scripts/make-task-fixtures.ts, each in its dataset's format), every request as the harness's own
 * task files build it, its tokens as the harness splits them, and its log-likelihood from
 * transformers. Accuracies are recomputed here by hand from the oracle's numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { loadModelDir } from '../src/eval/run.js';
import { encodePair, scoreEncoded } from '../src/eval/loglikelihood.js';
import { TASKS } from '../src/eval/tasks/registry.js';
import { loadDocs, meanStderr } from '../src/eval/tasks/run.js';
import { readRecords } from '../src/io/records.js';
import { evaluateTasks, LowbitError, quantize } from '../src/api/index.js';
import { ASSETS, ROOT, runCli, tmpDir } from './helpers.js';

const fixtures = path.join(ROOT, 'test', 'fixtures');
const taskDir = path.join(fixtures, 'tasks');
interface OracleRequest { context: string; continuation: string; contextTokens: number[]; continuationTokens: number[]; ll: number; greedy: boolean }
const oracle: { tasks: Record<string, { docs: number; requests: OracleRequest[]; metrics: Record<string, number> }> } =
  JSON.parse(fs.readFileSync(path.join(fixtures, 'oracle-tasks.json'), 'utf8'));
const names = Object.keys(TASKS);

test('every task builds the harness\'s requests and tokens, and scores them as transformers does (1e-4)', async () => {
  assert.deepEqual(Object.keys(oracle.tasks).sort(), [...names].sort());
  const be = new CpuBackend();
  const { model, info } = loadModelDir(be, ASSETS.model);
  const tok = info.tokenizer();
  let worst = 0;
  for (const name of names) {
    const task = TASKS[name];
    const { docs } = await loadDocs({ task, file: path.join(taskDir, `${name}.jsonl`) });
    const requests = docs.flatMap((d) => d.requests);
    const want = oracle.tasks[name].requests;
    assert.equal(requests.length, want.length, name);
    for (const [i, req] of requests.entries()) {
      const w = want[i];
      assert.deepEqual([req.context, req.continuation], [w.context, w.continuation], `${name} request ${i}`);
      const enc = encodePair(tok, req, model.config.bosTokenId!);
      assert.deepEqual([enc.context, enc.continuation], [w.contextTokens, w.continuationTokens], `${name} request ${i} tokens`);
      const s = await scoreEncoded(be, model, enc);
      const rel = Math.abs(s.logprob - w.ll) / Math.max(1, Math.abs(w.ll));
      worst = Math.max(worst, rel);
      assert.ok(rel < 1e-4, `${name} request ${i}: ${s.logprob} vs ${w.ll}`);
      assert.equal(s.greedy, w.greedy, `${name} request ${i} greedy`);
    }
  }
  console.log(`worst relative log-likelihood difference from transformers: ${worst.toExponential(2)}`);
});

/** Accuracy by hand from the oracle's log-likelihoods: each document's requests, the gold index by the dataset's own convention. */
function byHand(name: string, docs: Record<string, unknown>[], reqs: OracleRequest[]): Record<string, number> {
  if (name === 'lambada_openai') return { perplexity: Math.exp(-reqs.reduce((s, r) => s + r.ll, 0) / reqs.length), acc: reqs.filter((r) => r.greedy).length / reqs.length };
  const gold = (d: Record<string, unknown>): number => {
    switch (name) {
      case 'arc_easy': case 'arc_challenge': {
        const c = d.choices as { label: string[] };
        return c.label.indexOf(d.answerKey as string);
      }
      case 'winogrande': return Number(d.answer) - 1;
      default: return Number(d.label);
    }
  };
  let at = 0, acc = 0, accNorm = 0;
  for (const d of docs) {
    const n = name === 'piqa' || name === 'winogrande' || name === 'boolq' ? 2 : name === 'hellaswag' ? 4 : (d.choices as { text: string[] }).text.length;
    const mine = reqs.slice(at, at + n);
    at += n;
    const best = (score: (r: OracleRequest) => number) => mine.reduce((b, r, i) => (score(r) > score(mine[b]) ? i : b), 0);
    acc += best((r) => r.ll) === gold(d) ? 1 : 0;
    // acc_norm: the log-likelihood over the choice's length in characters (the continuation less its leading space).
    accNorm += best((r) => r.ll / ([...r.continuation].length - 1)) === gold(d) ? 1 : 0;
  }
  assert.equal(at, reqs.length);
  return { acc: acc / docs.length, acc_norm: accNorm / docs.length };
}

test('evaluateTasks: each task\'s metrics equal the ones recomputed by hand, in the harness\'s JSON shape', async () => {
  const r = await evaluateTasks(ASSETS.model, { tasks: names, taskDir });
  for (const name of names) {
    const docs = (await readRecords(path.join(taskDir, `${name}.jsonl`)));
    const hand = byHand(name, docs, oracle.tasks[name].requests);
    const mine = r.tasks.find((t) => t.task === name)!;
    for (const m of TASKS[name].metrics) {
      const got = mine.metrics[m]!.value;
      if (m === 'perplexity') assert.ok(Math.abs(got / hand[m] - 1) < 1e-4, `${name} ${m}: ${got} vs ${hand[m]}`);
      else assert.equal(got, hand[m], `${name} ${m}`);
      assert.equal(r.results[name][`${m},none`], got);
      // The harness's figure too, as the oracle computed it with the harness's formulas.
      assert.ok(Math.abs(got - oracle.tasks[name].metrics[m]) <= 1e-4 * Math.abs(got), `${name} ${m} vs the oracle`);
    }
    if (mine.metrics.acc) assert.ok(Math.abs(Number(r.results[name]['acc_stderr,none']) - oracle.tasks[name].metrics.acc_stderr) < 1e-12);
    assert.deepEqual(r['n-samples'][name], { original: oracle.tasks[name].docs, effective: oracle.tasks[name].docs });
  }
  assert.deepEqual(r.versions.boolq, 2);
});

test('Parquet files (written by pyarrow) hold the same documents as the JSONL and give the same results; --limit', async () => {
  const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
  for (const name of ['arc_easy', 'hellaswag'])
    assert.deepEqual(plain(await readRecords(path.join(taskDir, `${name}.parquet`))), plain(await readRecords(path.join(taskDir, `${name}.jsonl`))), name);
  const dir = tmpDir();
  for (const name of ['arc_easy', 'hellaswag']) fs.copyFileSync(path.join(taskDir, `${name}.parquet`), path.join(dir, `${name}.parquet`));
  const fromParquet = await evaluateTasks(ASSETS.model, { tasks: ['arc_easy', 'hellaswag'], taskDir: dir, limit: 8 });
  const fromJsonl = await evaluateTasks(ASSETS.model, { tasks: ['arc_easy', 'hellaswag'], taskDir, limit: 8 });
  assert.deepEqual(fromParquet.results, fromJsonl.results);
  assert.deepEqual(fromParquet['n-samples'].arc_easy, { original: 20, effective: 8 });
});

test('the shipped multiple-choice set: kdoc-6m is well above chance, and the CLI prints harness-shaped JSON', () => {
  const r = runCli(['eval', ASSETS.model, '--tasks-file', ASSETS.mc, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const acc = j.results['kdoc-mc']['acc,none'];
  assert.ok(acc > 0.5, `acc ${acc} (chance is 0.25)`);
  // stderr as the harness computes it: sample standard deviation over sqrt(n).
  const perDoc = Array.from({ length: 40 }, (_, i) => (i < Math.round(acc * 40) ? 1 : 0));
  assert.ok(Math.abs(j.results['kdoc-mc']['acc_stderr,none'] - meanStderr(perDoc)!) < 1e-12);
});

test('a GGUF file is scored too (kdoc-6m as Q8_0, written by lowbit)', async () => {
  const gguf = path.join(tmpDir(), 'kdoc-q8_0.gguf');
  await quantize(ASSETS.model, { out: gguf, gguf: 'Q8_0' });
  const r = await evaluateTasks(gguf, { tasksFile: [ASSETS.mc], limit: 20 });
  assert.deepEqual(r['n-samples']['kdoc-mc'], { original: 40, effective: 20 });
  assert.ok(Number(r.results['kdoc-mc']['acc,none']) > 0.5);
});

test('task errors are one line naming the file and the problem', async () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'piqa.jsonl'), '{"goal": "x", "sol1": "a", "sol2": "b"}\n');
  fs.writeFileSync(path.join(dir, 'winogrande.jsonl'), '{"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "1"}\n{"sentence": "No blank.", "option1": "x", "option2": "y", "answer": "2"}\n');
  fs.writeFileSync(path.join(dir, 'hellaswag.jsonl'), '{"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": "d", "label": "0"}\n');
  fs.writeFileSync(path.join(dir, 'broken.jsonl'), '{"context": "x", "choices": ["a", "b"], "gold": 0}\n{oops\n');
  const cases: [Parameters<typeof evaluateTasks>[1], RegExp][] = [
    [{ tasks: ['mmlu'] }, /tasks \(--tasks\) must be a list of piqa/],
    [{ tasks: ['piqa'] }, /task piqa needs its data: pass --task-dir/],
    [{ tasks: ['boolq'], taskDir: dir }, /no boolq\.jsonl, boolq\.json or boolq\.parquet for task boolq/],
    [{ tasks: ['piqa'], taskDir: dir }, /piqa\.jsonl: document 1: lacks label/],
    [{ tasks: ['winogrande'], taskDir: dir }, /winogrande\.jsonl: document 2: the sentence has no "_" to fill/],
    [{ tasks: ['hellaswag'], taskDir: dir }, /hellaswag\.jsonl: document 1: field endings is not a list of strings/],
    [{ tasksFile: [path.join(dir, 'broken.jsonl')] }, /broken\.jsonl: line 2: invalid JSON/],
    [{}, /name tasks/],
  ];
  for (const [options, message] of cases) await assert.rejects(() => evaluateTasks(ASSETS.model, options), (e: Error) => e instanceof LowbitError && message.test(e.message) && !e.message.includes('\n'), String(message));
  const none = runCli(['eval', ASSETS.model]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^lowbit: nothing to evaluate: give --data/);
});
