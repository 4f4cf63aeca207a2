/**
 * demo(): the embedded kdoc-6m model quantized with each method and evaluated on its held-out text
 * (perplexity) and on the shipped multiple-choice set (zero-shot accuracy), before and after: what
 * `lowbit demo` prints.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { METHODS, type MethodName } from '../quant/registry.js';
import { ASSETS } from './assets.js';
import { checkOptions, withDefaults, type OptionSpecs, type OptionValues } from '../util/options.js';
import { loadModel } from './model.js';
import { DEVICE_OPTIONS, RUN_CONTROL_KEYS, type QuantizeOptions, type RunControl } from './options.js';
import { quantize } from './quantize.js';

/** The configurations the demo compares; calibrated ones use kdoc-calib.txt. */
export const DEMO_RUNS: { label: string; options: Partial<QuantizeOptions> & { method: MethodName } }[] = [
  { label: 'RTN 4-bit g128', options: { method: 'rtn', bits: 4, groupSize: 128 } },
  { label: 'RTN 3-bit g128', options: { method: 'rtn', bits: 3, groupSize: 128 } },
  { label: 'AdpQ 3-bit g128 (no data)', options: { method: 'adpq', bits: 3, groupSize: 128 } },
  { label: 'GPTQ 3-bit g128', options: { method: 'gptq', bits: 3, groupSize: 128 } },
  { label: 'QuantEase 3-bit g128', options: { method: 'quantease', bits: 3, groupSize: 128 } },
  { label: 'LRC W4A4, rank 10%, rotated', options: { method: 'lrc', bits: 4, groupSize: 0, sym: true, aBits: 4, rotate: 'hadamard', lrcRank: 0.1 } },
];

export const DEMO_OPTIONS = {
  maxWindows: { type: 'int', min: 1, default: 128, valueName: 'n', description: 'evaluate on the first n windows of the held-out text (503 is all of it)' },
  seqLen: { type: 'int', min: 2, max: 512, default: 512, valueName: 'n', description: 'evaluation window length (kdoc-6m was trained on 512)' },
  calibSamples: { type: 'int', min: 1, default: 128, valueName: 'n', description: 'calibration windows of 512 tokens for GPTQ, QuantEase and LRC' },
  ...DEVICE_OPTIONS,
} as const satisfies OptionSpecs;

export type DemoOptions = OptionValues<typeof DEMO_OPTIONS> & RunControl;

export interface DemoRow {
  model: string;
  bitsPerWeight: number;
  ppl: number;
  /** Zero-shot accuracy on the shipped multiple-choice set (assets/kdoc-mc.jsonl; 4 choices: chance is 0.25). */
  mcAcc: number;
  quantizeSeconds: number;
}

export interface DemoResult {
  data: string;
  /** The multiple-choice set of `mcAcc`. */
  mcData: string;
  seqLen: number;
  windows: number;
  /** The original model first, then one row per configuration of DEMO_RUNS. */
  rows: DemoRow[];
}

/** Quantizes the embedded model with each method (outputs in a temporary directory, removed after) and evaluates each. */
export async function demo(options: DemoOptions = {}): Promise<DemoResult> {
  checkOptions('demo', DEMO_OPTIONS, options, RUN_CONTROL_KEYS);
  const o = withDefaults(DEMO_OPTIONS, options);
  const labelled = (label: string): RunControl['onProgress'] => o.onProgress && ((e) => o.onProgress!({ ...e, item: e.item ? `${label}: ${e.item}` : label }));
  /** Held-out perplexity and multiple-choice accuracy of one model, loaded once for both. */
  const measure = async (dir: string, label: string) => {
    const m = await loadModel(dir, { device: o.device, signal: o.signal, onProgress: labelled(label) });
    try {
      const ppl = await m.evaluate({ file: ASSETS.heldout }, { seqLen: o.seqLen, maxWindows: o.maxWindows, signal: o.signal, onProgress: labelled(label) });
      const mc = await m.evaluateTasks({ tasksFile: [ASSETS.mc], signal: o.signal, onProgress: labelled(label) });
      return { ppl: ppl.ppl, windows: ppl.windows, mcAcc: mc.tasks[0].metrics.acc!.value };
    } finally {
      m.dispose();
    }
  };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-demo-'));
  try {
    const base = await measure(ASSETS.model, 'original');
    const rows: DemoRow[] = [{ model: 'original (bf16 weights, f32 compute)', bitsPerWeight: 16, ppl: base.ppl, mcAcc: base.mcAcc, quantizeSeconds: 0 }];
    for (const [i, run] of DEMO_RUNS.entries()) {
      const out = path.join(tmp, String(i));
      const calibrated = METHODS[run.options.method].kind === 'calibrated';
      const calibration = calibrated ? { calib: ASSETS.calib, calibSamples: o.calibSamples, device: o.device } : {};
      const m = await quantize(ASSETS.model, { ...run.options, ...calibration, out, signal: o.signal, onProgress: labelled(run.label) } as QuantizeOptions);
      const r = await measure(out, run.label);
      rows.push({ model: run.label, bitsPerWeight: m.summary.bitsPerWeight, ppl: r.ppl, mcAcc: r.mcAcc, quantizeSeconds: m.summary.seconds });
    }
    return { data: ASSETS.heldout, mcData: ASSETS.mc, seqLen: o.seqLen!, windows: base.windows, rows };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
