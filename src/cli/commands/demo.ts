import type { Command } from 'commander';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ASSETS } from '../../util/assets.js';
import { METHODS, type MethodName } from '../../quant/registry.js';
import { addSpecOptions, intArg, printJson, table } from '../args.js';
import type { Device } from '../../backend/index.js';
import { DEVICE_OPTIONS, type QuantizeOptions } from '../../api/options.js';
import { evaluateWithProgress } from './eval.js';
import { quantizeWithProgress } from './quantize.js';

/** The configurations the demo compares; calibrated ones use kdoc-calib.txt. */
export const DEMO_RUNS: { label: string; options: Partial<QuantizeOptions> & { method: MethodName } }[] = [
  { label: 'RTN 4-bit g128', options: { method: 'rtn', bits: 4, groupSize: 128 } },
  { label: 'RTN 3-bit g128', options: { method: 'rtn', bits: 3, groupSize: 128 } },
  { label: 'AdpQ 3-bit g128 (no data)', options: { method: 'adpq', bits: 3, groupSize: 128 } },
  { label: 'GPTQ 3-bit g128', options: { method: 'gptq', bits: 3, groupSize: 128 } },
  { label: 'QuantEase 3-bit g128', options: { method: 'quantease', bits: 3, groupSize: 128 } },
  { label: 'LRC W4A4, rank 10%, rotated', options: { method: 'lrc', bits: 4, groupSize: 0, sym: true, aBits: 4, rotate: 'hadamard', lrcRank: 0.1 } },
];

export function registerDemo(program: Command): void {
  const cmd = program.command('demo');
  cmd
    .description('quantize the embedded kdoc-6m model with each method and print a before/after table')
    .option('--max-windows <n>', 'evaluate on the first n windows of the held-out text (503 is all of it)', intArg(1), 128)
    .option('--seq-len <n>', 'evaluation window length', intArg(2), 512)
    .option('--calib-samples <n>', 'calibration windows of 512 tokens for GPTQ, QuantEase and LRC', intArg(1), 128)
  addSpecOptions(cmd, DEVICE_OPTIONS);
  cmd
    .option('--json', 'print the table as one JSON object')
    .addHelpText('after', `
Uses the model, held-out text and calibration text shipped in assets/ (see assets/README.md).
Calibrated methods draw 128 windows of 512 tokens from kdoc-calib.txt, never the evaluation text.
Outputs go to a temporary directory that is removed afterwards.`)
    .action(async (o: { maxWindows?: number; seqLen: number; calibSamples: number; device?: Device; json?: boolean }) => {
      const evalOpts = { seqLen: o.seqLen, maxWindows: o.maxWindows, device: o.device };
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-demo-'));
      try {
        const base = await evaluateWithProgress(ASSETS.model, ASSETS.heldout, evalOpts, 'fp32');
        const rows = [{ model: 'original (bf16 weights, f32 compute)', bitsPerWeight: 16, ppl: base.ppl, quantizeSeconds: 0 }];
        for (const [i, run] of DEMO_RUNS.entries()) {
          const out = path.join(tmp, String(i));
          const calibrated = METHODS[run.options.method].kind === 'calibrated';
          const options = { ...run.options, out, ...(calibrated ? { calib: ASSETS.calib, calibSamples: o.calibSamples, device: o.device } : {}) } as QuantizeOptions;
          const m = await quantizeWithProgress(ASSETS.model, options);
          const r = await evaluateWithProgress(out, ASSETS.heldout, evalOpts, run.options.method);
          rows.push({ model: run.label, bitsPerWeight: m.summary.bitsPerWeight, ppl: r.ppl, quantizeSeconds: m.summary.seconds });
        }
        if (o.json) return printJson({ data: ASSETS.heldout, seqLen: o.seqLen, windows: base.windows, rows });
        console.log(`kdoc-6m on ${path.basename(ASSETS.heldout)}: ${base.windows} windows x ${o.seqLen} tokens\n`);
        console.log(table(['model', 'bits/weight', 'perplexity', 'vs original', 'quantize s'], rows.map((r) => [
          r.model, r.bitsPerWeight.toFixed(3), r.ppl.toFixed(3), r === rows[0] ? '' : `${(((r.ppl - base.ppl) / base.ppl) * 100).toFixed(2)}%`, r.quantizeSeconds.toFixed(2),
        ])));
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });
}
