import type { Command } from 'commander';
import { generate } from '../../api/model.js';
import { GENERATE_OPTIONS, LOAD_OPTIONS, type GenerateOptions, type LoadModelOptions } from '../../api/options.js';
import { addSpecOptions, apiOptions, printJson } from '../args.js';

export function registerGenerate(program: Command): void {
  const cmd = program
    .command('generate')
    .description('generate text from a prompt (Hugging Face or lowbit directory, or GGUF file), streamed to stdout')
    .argument('<model>', 'model directory or .gguf file')
    .requiredOption('--prompt <text>', 'the text to continue (tokenized without BOS, as lowbit evaluates)');
  addSpecOptions(cmd, GENERATE_OPTIONS);
  addSpecOptions(cmd, LOAD_OPTIONS);
  cmd
    .option('--json', 'print one JSON object (the API\'s GenerateResult: prompt, text, token ids, tokens/s) instead of streaming')
    .addHelpText('after', `
The prompt runs through the model once, then every new token runs against a KV cache. Speed
(prompt and generation tokens per second) goes to stderr. Generation stops at --max-tokens or
at the model's end-of-sequence token.

Examples:
  lowbit generate ./assets/kdoc-6m --prompt "The kernel scheduler" --max-tokens 64
  lowbit generate /tmp/kdoc-q4km.gguf --prompt "The kernel scheduler" --temperature 0.8 --seed 1`)
    .action(async (model: string, parsed: { prompt: string; json?: boolean }) => {
      const options = apiOptions<GenerateOptions & LoadModelOptions>(parsed, ['prompt', 'json']);
      if (parsed.json) return printJson(await generate(model, parsed.prompt, options));
      process.stdout.write(parsed.prompt);
      const r = await generate(model, parsed.prompt, { ...options, onText: (s) => process.stdout.write(s) });
      process.stdout.write('\n');
      process.stderr.write(`${r.promptTokens} prompt tokens in ${r.prefillSeconds.toFixed(3)} s; ${r.tokens.length} tokens at ${r.tokensPerSecond.toFixed(1)} tokens/s\n`);
    });
}
