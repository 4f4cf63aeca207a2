/**
 * The `lowbit` command line. Each command lives in commands/; this file wires them up and turns
 * errors into one line on stderr and a non-zero exit code.
 */
import { Command, CommanderError } from 'commander';
import { LowbitError } from '../util/errors.js';
import { VERSION } from '../util/version.js';
import { registerDemo } from './commands/demo.js';
import { registerEval } from './commands/eval.js';
import { registerInspect } from './commands/inspect.js';
import { registerQuantize } from './commands/quantize.js';
import { registerGenerate } from './commands/generate.js';
import { registerExport } from './commands/export.js';
import { registerWeb } from './commands/web.js';

export function buildProgram(): Command {
  const program = new Command('lowbit')
    .description('Post-training quantization of LLMs (Llama, Mistral, Qwen2, Phi-3, OPT) with AdpQ, QuantEase, LRC, GPTQ and RTN, with measured perplexity')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerEval(program);
  registerQuantize(program);
  registerGenerate(program);
  registerExport(program);
  registerDemo(program);
  registerInspect(program);
  registerWeb(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** A reader that closed our stdout early (`lowbit eval --json | head -c 10`) ends us quietly, as Unix tools do. */
function exitQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnClosedStdout();
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander already printed the message
    if (e instanceof LowbitError) {
      process.stderr.write(`lowbit: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`lowbit: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 2;
  }
}
