import type { Command } from 'commander';
import { exportGguf } from '../../api/export-gguf.js';
import { EXPORT_OPTIONS, type ExportOptions } from '../../api/options.js';
import { addSpecOptions, apiOptions, printJson } from '../args.js';

export function registerExport(program: Command): void {
  const cmd = program
    .command('export')
    .description('write a lowbit-quantized directory as one GGUF file (llama.cpp, Ollama, LM Studio), without changing a weight')
    .argument('<dir>', 'a directory made by `lowbit quantize`')
    .option('--gguf', 'the output format (GGUF is the one lowbit exports)', true);
  addSpecOptions(cmd, EXPORT_OPTIONS);
  cmd
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
    .action(async (dir: string, parsed: { json?: boolean }) => {
      const r = await exportGguf(dir, apiOptions<ExportOptions>(parsed, ['gguf', 'json']));
      if (parsed.json) printJson(r);
      else console.log(`${dir} -> ${r.out}: ${r.summary.quantizedLayers} layers at ${r.summary.bitsPerWeight.toFixed(4)} bits/weight (${r.method})`);
    });
}
