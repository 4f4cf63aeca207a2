import type { Command } from 'commander';
import { createBackend, type Device } from '../../backend/index.js';
import { evaluate, type EvalReport } from '../../eval/run.js';
import { kernelDescription } from '../../native/index.js';
import { deviceOption, intArg, printJson } from '../args.js';
import { progressBar } from '../progress.js';

export interface EvalCliOptions {
  data: string;
  seqLen: number;
  maxWindows?: number;
  batch: number;
  packed?: boolean;
  beyondContext?: boolean;
  device: Device;
  json?: boolean;
}

/** Evaluates with progress bars on stderr; shared by `eval` and `demo`. */
export async function evaluateWithProgress(model: string, o: Omit<EvalCliOptions, 'json'>, label = 'eval'): Promise<EvalReport> {
  const be = await createBackend(o.device);
  const load = progressBar('load', 1, 'tensors');
  let bar = load;
  try {
    const report = await evaluate(be, {
      modelDir: model, dataFile: o.data, seqLen: o.seqLen, maxWindows: o.maxWindows, batch: o.batch, packed: o.packed ?? 'auto', beyondContext: o.beyondContext,
      onLoad: (d, t) => load.update(d, t),
      onProgress: (d, t) => {
        if (bar === load) {
          load.stop();
          bar = progressBar(label, t, 'windows');
        }
        bar.update(d, t);
      },
    });
    return report;
  } finally {
    bar.stop();
    be.dispose?.();
  }
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('perplexity of a model (original or lowbit-quantized) on a text file')
    .argument('<model>', 'model directory: config.json, *.safetensors, tokenizer.json (or a lowbit output)')
    .requiredOption('--data <file>', 'UTF-8 text to evaluate on (tokenized whole, without BOS)')
    .option('--seq-len <n>', 'window length in tokens; the text is cut into non-overlapping windows', intArg(2), 512)
    .option('--max-windows <n>', 'evaluate only the first n windows', intArg(1))
    .option('--batch <n>', 'windows per forward pass', intArg(1), 1)
    .option('--beyond-context', 'allow --seq-len above the model\'s max_position_embeddings (refused otherwise)')
    .option('--packed', 'keep quantized linears packed in memory, widening one layer at a time (default: when widening them all would take over 1 GiB)')
    .option('--no-packed', 'widen quantized linears once at load (faster, more memory)')
    .addOption(deviceOption())
    .option('--json', 'print one JSON object (ppl, nll, windows, tokens/s, peak memory) instead of text')
    .addHelpText('after', `
Protocol (as in GPTQ-style papers): the whole file is tokenized without BOS, cut into
floor(tokens / seq-len) windows, each window is run independently, and perplexity is
exp(mean NLL) over the seq-len - 1 predictions of every window.

Example:
  lowbit eval ./assets/kdoc-6m --data ./assets/kdoc-heldout.txt --seq-len 512 --json`)
    .action(async (model: string, o: EvalCliOptions) => {
      const r = await evaluateWithProgress(model, o);
      const peakRssMiB = process.resourceUsage().maxRSS / 1024;
      const kernels = r.backend.startsWith('cpu') ? kernelDescription() : r.backend;
      if (o.json) {
        printJson({ ...r, peakRssMiB, kernels });
        return;
      }
      const what = r.quantized ? `${r.method}, ${r.bitsPerWeight?.toFixed(3)} bits/weight` : 'unquantized';
      console.log(`model       ${r.model} (${what})`);
      console.log(`data        ${r.data}: ${r.windows} windows x ${r.seqLen} tokens, ${r.predictedTokens} predictions`);
      console.log(`perplexity  ${r.ppl.toFixed(4)}  (mean NLL ${r.nll.toFixed(5)} nats)`);
      console.log(`speed       ${r.tokensPerSecond.toFixed(0)} tokens/s, ${r.seconds.toFixed(2)} s on ${kernels}`);
      console.log(`peak memory ${peakRssMiB.toFixed(0)} MiB RSS`);
    });
}
