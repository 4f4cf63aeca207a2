/**
 * Accuracy next to perplexity: kdoc-6m quantized by every method at 3 and 4 bits (group 128; LRC as
 * W4A4/W3A4, rotated, rank 10%), each evaluated on the held-out text (perplexity, 128 windows) and
 * zero-shot on the shipped multiple-choice set (assets/kdoc-mc.jsonl), plus the harness tasks whose
 * files are in --task-dir=<dir> (or LOWBIT_TASK_DIR) when given.
 */
import { benchArg } from './args.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel, quantize, ASSETS, type QuantizeOptions } from '../src/api/index.js';
import { TASKS } from '../src/eval/tasks/registry.js';
import { taskFileIn } from '../src/eval/tasks/run.js';
import { METHODS } from '../src/quant/registry.js';
import type { MachineLimits } from './machine.js';

const RUNS: { label: string; options: Partial<QuantizeOptions> }[] = [
  ...[4, 3].flatMap((bits) => [
    { label: `RTN W${bits} g128`, options: { method: 'rtn', bits } },
    { label: `AdpQ W${bits} g128`, options: { method: 'adpq', bits } },
    { label: `GPTQ W${bits} g128`, options: { method: 'gptq', bits } },
    { label: `QuantEase W${bits} g128`, options: { method: 'quantease', bits } },
    { label: `LRC W${bits}A4 rotated`, options: { method: 'lrc', bits, aBits: 4, rotate: 'hadamard', lrcRank: 0.1 } },
  ] as { label: string; options: Partial<QuantizeOptions> }[]),
];

export async function benchAccuracy(_m: MachineLimits): Promise<Record<string, number>> {
  const taskDir = benchArg('task-dir') ?? process.env.LOWBIT_TASK_DIR;
  const tasks = taskDir ? Object.keys(TASKS).filter((t) => taskFileIn(taskDir, t)) : [];
  console.log(`\n== accuracy: kdoc-6m, perplexity (held-out, 128 x 512) and zero-shot accuracy (kdoc-mc, 40 questions, 4 choices${tasks.length ? `; ${tasks.join(', ')} from ${taskDir}` : ''})`);
  const header = ['model', 'bits/weight', 'ppl', 'kdoc-mc acc', 'acc_norm', ...tasks.map((t) => `${t} ${TASKS[t].metrics[0]}`)];
  console.log(header.join(' | '));
  const figures: Record<string, number> = {};
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-bench-accuracy-'));
  const measure = async (label: string, dir: string, bitsPerWeight: number) => {
    const m = await loadModel(dir);
    try {
      const ppl = (await m.evaluate({ file: ASSETS.heldout }, { seqLen: 512, maxWindows: 128 })).ppl;
      const mc = (await m.evaluateTasks({ tasksFile: [ASSETS.mc] })).tasks[0].metrics;
      const harness = tasks.length ? (await m.evaluateTasks({ tasks, taskDir })).tasks : [];
      const cells = [label, bitsPerWeight.toFixed(3), ppl.toFixed(3), mc.acc!.value.toFixed(3), mc.acc_norm!.value.toFixed(3),
        ...harness.map((t) => Object.values(t.metrics)[0]!.value.toFixed(4))];
      console.log(cells.join(' | '));
      const key = label.replace(/[^A-Za-z0-9]+/g, '_');
      Object.assign(figures, { [`${key}_bpw`]: bitsPerWeight, [`${key}_ppl`]: ppl, [`${key}_mc_acc`]: mc.acc!.value, [`${key}_mc_acc_norm`]: mc.acc_norm!.value });
      for (const t of harness) for (const [metric, v] of Object.entries(t.metrics)) figures[`${key}_${t.task}_${metric}`] = v.value;
    } finally {
      m.dispose();
    }
  };
  try {
    await measure('original (bf16)', ASSETS.model, 16);
    for (const [i, run] of RUNS.entries()) {
      const out = path.join(tmp, String(i));
      const calibrated = METHODS[run.options.method!].kind === 'calibrated';
      const q = await quantize(ASSETS.model, { ...run.options, out, ...(calibrated ? { calib: ASSETS.calib } : {}) } as QuantizeOptions);
      await measure(run.label, out, q.summary.bitsPerWeight);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return figures;
}
