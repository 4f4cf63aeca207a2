import type { Command } from 'commander';
import { loadModel, type EvaluateResult, type TasksResult } from '../../api/model.js';
import { EVALUATE_OPTIONS, LOAD_OPTIONS, TASK_OPTIONS, type EvaluateOptions, type LoadModelOptions, type TaskOptions } from '../../api/options.js';
import { LowbitError } from '../../util/errors.js';
import { addSpecOptions, apiOptions, printJson, table } from '../args.js';
import { progressBars } from '../progress.js';

interface EvalCli {
  data?: string;
  json?: boolean;
}

function printPerplexity(r: EvaluateResult): void {
  const what = r.quantized ? `${r.method}, ${r.bitsPerWeight?.toFixed(3)} bits/weight` : 'unquantized';
  console.log(`model       ${r.model} (${what})`);
  console.log(`data        ${r.data}: ${r.windows} windows x ${r.seqLen} tokens, ${r.predictedTokens} predictions`);
  console.log(`perplexity  ${r.ppl.toFixed(4)}  (mean NLL ${r.nll.toFixed(5)} nats)`);
  console.log(`speed       ${r.tokensPerSecond.toFixed(0)} tokens/s, ${r.seconds.toFixed(2)} s on ${r.kernels}`);
  console.log(`peak memory ${r.peakRssMiB.toFixed(0)} MiB RSS`);
}

function printTasks(r: TasksResult): void {
  const f = (x: number) => x.toFixed(4);
  console.log(table(['task', 'metric', 'value', 'stderr', 'documents'], r.tasks.flatMap((t) => Object.entries(t.metrics).map(([m, v]) => [
    t.task, m, f(v.value), v.stderr === null ? 'N/A' : `± ${f(v.stderr)}`, t.docs.effective === t.docs.original ? String(t.docs.original) : `${t.docs.effective} of ${t.docs.original}`,
  ]))));
}

export function registerEval(program: Command): void {
  const cmd = program
    .command('eval')
    .description('perplexity of a model (original or quantized) on a text, and zero-shot accuracy on lm-evaluation-harness tasks')
    .argument('<model>', 'model directory: config.json, *.safetensors, tokenizer.json (or a lowbit output, or a GGUF file)')
    .option('--data <file>', 'UTF-8 text for perplexity (tokenized whole, without BOS)');
  addSpecOptions(cmd, EVALUATE_OPTIONS);
  addSpecOptions(cmd, TASK_OPTIONS);
  addSpecOptions(cmd, LOAD_OPTIONS);
  cmd
    .option('--json', 'print one JSON object: the API\'s EvaluateResult (ppl, nll, tokens/s, peak memory) and, with tasks, the harness-shaped results (results, versions, n-samples)')
    .addHelpText('after', `
Perplexity (as in GPTQ-style papers): the whole file is tokenized without BOS, cut into
floor(tokens / seq-len) windows, each window is run independently, and perplexity is
exp(mean NLL) over the seq-len - 1 predictions of every window.

Zero-shot tasks (as lm-evaluation-harness 0.4 runs them, 0-shot): each task's prompt format,
choices and metrics (acc; acc_norm, length-normalised by characters; LAMBADA perplexity), scored
by log-likelihood with the harness's tokenization. lowbit downloads nothing: put each task's
published file in --task-dir (README, "Zero-shot tasks", lists them).

Examples:
  lowbit eval ./assets/kdoc-6m --data ./assets/kdoc-heldout.txt --seq-len 512 --json
  lowbit eval ./assets/kdoc-6m --tasks-file ./assets/kdoc-mc.jsonl
  lowbit eval /tmp/kdoc-gptq3 --tasks piqa,arc_easy,hellaswag,winogrande,boolq,lambada --task-dir ./tasks --json`)
    .action(async (model: string, parsed: EvalCli) => {
      const all = apiOptions<EvaluateOptions & TaskOptions & LoadModelOptions>(parsed, ['data', 'json']);
      const { tasks, taskDir, tasksFile, limit, device, packed, ...windows } = all;
      const taskOptions: TaskOptions = { tasks, taskDir, tasksFile, limit };
      const wantTasks = (tasks?.length ?? 0) + (tasksFile?.length ?? 0) > 0;
      if (!parsed.data && !wantTasks) throw new LowbitError('nothing to evaluate: give --data <file> (perplexity), --tasks with --task-dir, or --tasks-file');
      const bars = progressBars();
      let ppl: EvaluateResult | undefined, zeroShot: TasksResult | undefined;
      try {
        const m = await loadModel(model, { device, packed, onProgress: bars.onProgress });
        try {
          if (parsed.data) ppl = await m.evaluate({ file: parsed.data }, { ...windows, onProgress: bars.onProgress });
          if (wantTasks) zeroShot = await m.evaluateTasks({ ...taskOptions, onProgress: bars.onProgress });
        } finally {
          m.dispose();
        }
      } finally {
        bars.stop();
      }
      if (parsed.json) return printJson({ ...ppl, ...zeroShot });
      if (ppl) printPerplexity(ppl);
      if (ppl && zeroShot) console.log('');
      if (zeroShot) printTasks(zeroShot);
    });
}
