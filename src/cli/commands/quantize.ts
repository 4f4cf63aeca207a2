import type { Command } from 'commander';
import { quantize, type QuantizeResult } from '../../api/quantize.js';
import { QUANTIZE_OPTIONS, type QuantizeOptions } from '../../api/options.js';
import { METHODS } from '../../quant/registry.js';
import type { OptionSpec } from '../../util/options.js';
import { addSpecOption, addSpecOptions, apiOptions, defaultText, printJson, table } from '../args.js';
import { formatRate, progressBars } from '../progress.js';

/**
 * Method options, each flag once: several methods may share one (e.g. --outlier-ratio) with their
 * own defaults, so --help lists each method's default and the API applies the chosen method's.
 */
function addMethodOptions(cmd: Command): void {
  const byName = new Map<string, { spec: OptionSpec; users: string[] }>();
  for (const m of Object.values(METHODS))
    for (const [name, spec] of Object.entries(m.options)) {
      const user = `${m.name} ${defaultText(spec)}`;
      const e = byName.get(name);
      if (e) e.users.push(user);
      else byName.set(name, { spec, users: [user] });
    }
  for (const [name, { spec, users }] of byName) addSpecOption(cmd, name, { ...spec, default: undefined, defaultText: users.join(', ') });
}

function printSummary(r: QuantizeResult): void {
  const s = r.summary;
  const calibrated = METHODS[r.method].kind === 'calibrated';
  const errorHeaders = calibrated ? ['rel. output error', 'RTN rel. output error'] : ['rel. weight error'];
  console.log(table(['layer', 'shape', 'bits/weight', ...errorHeaders], Object.entries(r.layers).map(([name, e]) => [
    name, `${e.rows}x${e.cols}`, e.bitsPerWeight.toFixed(3),
    ...(calibrated ? [e.report?.relError, e.report?.rtnRelError] : [e.report?.weightRelError]).map((x) => Number(x ?? NaN).toExponential(3)),
  ])));
  console.log(`\n${r.method}: ${s.quantizedLayers} layers, ${s.quantizedParams} parameters at ${s.bitsPerWeight.toFixed(4)} bits/weight, ` +
    `${s.seconds.toFixed(2)} s (${formatRate(s.quantizedParams / s.seconds)} params/s), peak memory ${r.peakRssMiB.toFixed(0)} MiB -> ${r.out}`);
}

export function registerQuantize(program: Command): void {
  const cmd = program
    .command('quantize')
    .description('quantize a model into a lowbit directory or (--gguf) a GGUF file')
    .argument('<model>', 'model directory (config.json, *.safetensors, tokenizer.json)');
  addSpecOptions(cmd, QUANTIZE_OPTIONS);
  addMethodOptions(cmd);
  cmd.option('--json', 'print the result as one JSON object (the fields of the API\'s QuantizeResult)');
  cmd.addHelpText('after', `
Methods:
${Object.values(METHODS).map((m) => `  ${m.name.padEnd(10)} ${m.summary}${m.kind === 'calibrated' ? ' (needs --calib)' : ''}`).join('\n')}

Only the linear layers of the decoder blocks are quantized (q/k/v/o, gate/up/down), as in
GPTQ, AWQ and llama.cpp; embeddings, norms and the LM head keep their precision. Bits per
weight count codes, scales (16 bit), zeros and any extra tensors, over the quantized layers.

Calibrated methods quantize block by block: each block is run on the calibration activations
to collect H = X^T X for its linear layers, its linears are quantized, and the block is run
again with the quantized weights to produce the next block's input. The per-layer table reports
||WX - W_hat X||^2 / ||WX||^2 on the calibration data, next to RTN's on the same grid spec.

Activations: --a-bits b quantizes the input of every linear in the decoder blocks per token
(q/k/v, o, gate/up, down: all of them, as QuaRot and the LRC paper do; the LM head stays in
full precision). With --a-bits below 16 the default weight grid becomes QuaRot's (--sym,
--group-size 0) unless given, and calibrated methods minimise the true layer error
E||W x - W_hat Q(x)||^2. --rotate hadamard removes activation outliers first (exactly, the
float model's logits do not change).

The library call is quantize(model, options) with the same options in camelCase (README, "API").

Examples:
  lowbit quantize ./assets/kdoc-6m --method rtn --bits 3 --group-size 128 --out /tmp/kdoc-rtn3
  lowbit quantize ./assets/kdoc-6m --method gptq --bits 3 --group-size 128 \\
      --calib ./assets/kdoc-calib.txt --out /tmp/kdoc-gptq3
  lowbit quantize ./assets/kdoc-6m --method gptq --gguf Q4_K_M --calib ./assets/kdoc-calib.txt \\
      --out /tmp/kdoc-q4km.gguf
  lowbit quantize ./assets/kdoc-6m --method lrc --bits 4 --a-bits 4 --lrc-rank 0.1 \\
      --rotate hadamard --calib ./assets/kdoc-calib.txt --out /tmp/kdoc-lrc`);
  cmd.action(async (model: string, parsed: object) => {
    const options = apiOptions<QuantizeOptions>(parsed, ['json']);
    const bars = progressBars({ quantize: options.method ?? 'rtn' });
    let r: QuantizeResult;
    try {
      r = await quantize(model, { ...options, onProgress: bars.onProgress });
    } finally {
      bars.stop();
    }
    if ((parsed as { json?: boolean }).json) printJson(r);
    else printSummary(r);
  });
}
