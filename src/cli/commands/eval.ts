import type { Command } from 'commander';
import { evaluate, type EvaluateResult } from '../../api/model.js';
import { EVALUATE_OPTIONS, LOAD_OPTIONS, type EvaluateOptions, type LoadModelOptions } from '../../api/options.js';
import { addSpecOptions, apiOptions, printJson } from '../args.js';
import { progressBars } from '../progress.js';

type EvalCliOptions = EvaluateOptions & LoadModelOptions;

export function registerEval(program: Command): void {
  const cmd = program
    .command('eval')
    .description('perplexity of a model (original or lowbit-quantized) on a text file')
    .argument('<model>', 'model directory: config.json, *.safetensors, tokenizer.json (or a lowbit output)')
    .requiredOption('--data <file>', 'UTF-8 text to evaluate on (tokenized whole, without BOS)');
  addSpecOptions(cmd, EVALUATE_OPTIONS);
  addSpecOptions(cmd, LOAD_OPTIONS);
  cmd
    .option('--json', 'print one JSON object (ppl, nll, windows, tokens/s, peak memory: the API\'s EvaluateResult) instead of text')
    .addHelpText('after', `
Protocol (as in GPTQ-style papers): the whole file is tokenized without BOS, cut into
floor(tokens / seq-len) windows, each window is run independently, and perplexity is
exp(mean NLL) over the seq-len - 1 predictions of every window.

Example:
  lowbit eval ./assets/kdoc-6m --data ./assets/kdoc-heldout.txt --seq-len 512 --json`)
    .action(async (model: string, parsed: { data: string; json?: boolean }) => {
      const bars = progressBars();
      let r: EvaluateResult;
      try {
        r = await evaluate(model, { file: parsed.data }, { ...apiOptions<EvalCliOptions>(parsed, ['data', 'json']), onProgress: bars.onProgress });
      } finally {
        bars.stop();
      }
      if (parsed.json) return printJson(r);
      const what = r.quantized ? `${r.method}, ${r.bitsPerWeight?.toFixed(3)} bits/weight` : 'unquantized';
      console.log(`model       ${r.model} (${what})`);
      console.log(`data        ${r.data}: ${r.windows} windows x ${r.seqLen} tokens, ${r.predictedTokens} predictions`);
      console.log(`perplexity  ${r.ppl.toFixed(4)}  (mean NLL ${r.nll.toFixed(5)} nats)`);
      console.log(`speed       ${r.tokensPerSecond.toFixed(0)} tokens/s, ${r.seconds.toFixed(2)} s on ${r.kernels}`);
      console.log(`peak memory ${r.peakRssMiB.toFixed(0)} MiB RSS`);
    });
}
