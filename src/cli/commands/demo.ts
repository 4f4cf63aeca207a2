import type { Command } from 'commander';
import path from 'node:path';
import { demo, DEMO_OPTIONS, type DemoOptions } from '../../api/demo.js';
import { addSpecOptions, apiOptions, printJson, table } from '../args.js';
import { progressBars } from '../progress.js';

export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description('quantize the embedded kdoc-6m model with each method and print a before/after table');
  addSpecOptions(cmd, DEMO_OPTIONS);
  cmd
    .option('--json', 'print the table as one JSON object (the API\'s DemoResult)')
    .addHelpText('after', `
Uses the model, held-out text, calibration text and multiple-choice set shipped in assets/
(see assets/README.md).
Calibrated methods draw 128 windows of 512 tokens from kdoc-calib.txt, never the evaluation text.
Outputs go to a temporary directory that is removed afterwards.`)
    .action(async (parsed: { json?: boolean }) => {
      const bars = progressBars();
      let r;
      try {
        r = await demo({ ...apiOptions<DemoOptions>(parsed, ['json']), onProgress: bars.onProgress });
      } finally {
        bars.stop();
      }
      if (parsed.json) return printJson(r);
      const base = r.rows[0];
      console.log(`kdoc-6m on ${path.basename(r.data)}: ${r.windows} windows x ${r.seqLen} tokens\n`);
      console.log(table(['model', 'bits/weight', 'perplexity', 'vs original', 'kdoc-mc acc', 'quantize s'], r.rows.map((row) => [
        row.model, row.bitsPerWeight.toFixed(3), row.ppl.toFixed(3), row === base ? '' : `${(((row.ppl - base.ppl) / base.ppl) * 100).toFixed(2)}%`,
        row.mcAcc.toFixed(3), row.quantizeSeconds.toFixed(2),
      ])));
      console.log(`\nkdoc-mc: ${path.basename(r.mcData)}, 40 questions of 4 choices (chance 0.25), zero-shot as lm-evaluation-harness scores multiple choice`);
    });
}
