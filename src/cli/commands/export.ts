import type { Command } from 'commander';
import { exportGguf } from '../../export/gguf/export.js';
import { LowbitError } from '../../util/errors.js';
import { printJson } from '../args.js';
import { toGgufOverrides } from './quantize.js';

interface ExportCliOptions {
  gguf?: boolean;
  out: string;
  tokenEmbeddingType?: string;
  outputTensorType?: string;
  force?: boolean;
  json?: boolean;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('write a lowbit-quantized directory as one GGUF file (llama.cpp, Ollama, LM Studio), without changing a weight')
    .argument('<dir>', 'a directory made by `lowbit quantize`')
    .option('--gguf', 'the output format (GGUF is the one lowbit exports)', true)
    .requiredOption('--out <file.gguf>', 'output file; written under a temporary name and renamed when complete')
    .option('--token-embedding-type <type>', 'tensor type of the token embedding (default: as stored, or the directory\'s GGUF target)')
    .option('--output-tensor-type <type>', 'tensor type of the output (LM head) tensor (default: as stored, or the directory\'s GGUF target)')
    .option('--force', 'replace the output file if it exists')
    .option('--json', 'print the summary as one JSON object')
    .addHelpText('after', `
What can be exported: layers quantized onto a GGUF type (lowbit quantize --gguf TYPE --out <dir>),
and lowbit group grids that are exactly a ggml type: groups of 32 without act-order, symmetric 4/5/8
bits (Q4_0, Q5_0, Q8_0) or asymmetric 4/5 bits whose offsets are f16 values (Q4_1, Q5_1). Refused,
with the reason: activation quantization and rotations, LRC's low-rank factors, AdpQ's salient
weights, QuantEase's sparse outliers, other grids.

Examples:
  lowbit quantize ./assets/kdoc-6m --method gptq --gguf Q4_K_M --calib ./assets/kdoc-calib.txt --out /tmp/kdoc-gptq-q4km
  lowbit export /tmp/kdoc-gptq-q4km --gguf --out /tmp/kdoc-gptq-q4km.gguf`)
    .action(async (dir: string, o: ExportCliOptions) => {
      if (!o.out.toLowerCase().endsWith('.gguf')) throw new LowbitError('the output of export is a GGUF file: give --out a name ending in .gguf', o.out);
      const m = await exportGguf(dir, o.out, { overrides: toGgufOverrides(o), force: o.force });
      if (o.json) printJson({ out: o.out, method: m.method, summary: m.summary });
      else console.log(`${dir} -> ${o.out}: ${m.summary.quantizedLayers} layers at ${m.summary.bitsPerWeight.toFixed(4)} bits/weight (${m.method})`);
    });
}
