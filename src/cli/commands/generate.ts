import type { Command } from 'commander';
import { createBackend, type Backend, type Device } from '../../backend/index.js';
import { generate, textStreamer } from '../../eval/generate.js';
import { checkTokenIds, loadModelDir } from '../../eval/run.js';
import { deviceOption, intArg, numberArg, printJson } from '../args.js';

interface GenerateCliOptions {
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  packed?: boolean;
  device: Device;
  json?: boolean;
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('generate text from a prompt (Hugging Face or lowbit directory, or GGUF file), streamed to stdout')
    .argument('<model>', 'model directory or .gguf file')
    .requiredOption('--prompt <text>', 'the text to continue (tokenized without BOS, as lowbit evaluates)')
    .option('--max-tokens <n>', 'tokens to generate', intArg(1), 64)
    .option('--temperature <t>', 'sampling temperature; 0 = greedy (argmax)', numberArg(0, 100), 0)
    .option('--top-k <k>', 'sample among the k most likely tokens (0 = all)', intArg(0), 40)
    .option('--top-p <p>', 'sample among the most likely tokens up to this cumulative probability', numberArg(0.0001, 1), 0.95)
    .option('--seed <n>', 'seed of the sampler (the same seed gives the same text)', intArg(0), 0)
    .option('--packed', 'keep quantized linears packed in memory (default: when widening them all would take over 1 GiB)')
    .option('--no-packed', 'widen quantized linears once at load')
    .addOption(deviceOption())
    .option('--json', 'print one JSON object (prompt, text, token ids, tokens/s) instead of streaming')
    .addHelpText('after', `
The prompt runs through the model once, then every new token runs against a KV cache. Speed
(prompt and generation tokens per second) goes to stderr. Generation stops at --max-tokens or
at the model's end-of-sequence token.

Examples:
  lowbit generate ./assets/kdoc-6m --prompt "The kernel scheduler" --max-tokens 64
  lowbit generate /tmp/kdoc-q4km.gguf --prompt "The kernel scheduler" --temperature 0.8 --seed 1`)
    .action(async (model: string, o: GenerateCliOptions) => {
      const be = await createBackend(o.device);
      try {
        await generateText(be, model, o);
      } finally {
        be.dispose?.();
      }
    });
}

async function generateText(be: Backend, model: string, o: GenerateCliOptions): Promise<void> {
  const { model: m, info } = loadModelDir(be, model, undefined, o.packed ?? 'auto');
  const tok = info.tokenizer();
  const prompt = checkTokenIds(tok.encode(o.prompt), m.config.vocabSize, model);
  if (!o.json) process.stdout.write(o.prompt);
  const stream = o.json ? undefined : textStreamer(tok, (s) => process.stdout.write(s));
  const r = await generate(be, m, {
    prompt, maxTokens: o.maxTokens, stopToken: m.config.eosTokenId, onToken: stream,
    sampling: { temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed },
  });
  if (o.json) {
    printJson({ prompt: o.prompt, text: tok.decode(r.tokens), tokens: r.tokens, promptTokens: r.promptTokens, prefillSeconds: r.prefillSeconds, tokensPerSecond: r.tokensPerSecond });
    return;
  }
  process.stdout.write('\n');
  process.stderr.write(`${r.promptTokens} prompt tokens in ${r.prefillSeconds.toFixed(3)} s; ${r.tokens.length} tokens at ${r.tokensPerSecond.toFixed(1)} tokens/s\n`);
}
