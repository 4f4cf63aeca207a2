import { Option, type Command } from 'commander';
import { METHODS } from '../../quant/registry.js';
import type { MethodOption, QuantOptions } from '../../quant/method.js';
import { quantizeDataFree } from '../../pipeline/data-free.js';
import { quantizeCalibrated } from '../../pipeline/calibrated.js';
import type { LowbitManifest } from '../../export/manifest.js';
import type { RuntimeSpec } from '../../arch/llama.js';
import { LowbitError } from '../../util/errors.js';
import { deviceOption, groupSizeArg, intArg, numberArg, printJson, table } from '../args.js';
import { createBackend, type Device } from '../../backend/index.js';
import { formatRate, progressBar } from '../progress.js';
import { parseGgufTarget } from '../../export/gguf/plan.js';
import type { GgufOutput } from '../../export/output.js';
import { MIXES, type MixOverrides } from '../../quant/ggml/mixes.js';
import { BLOCK_TYPES, FLOAT_TYPES } from '../../quant/ggml/registry.js';

/** The options of `lowbit quantize` (method-specific ones arrive under their camelCase names). */
export interface QuantizeSettings {
  method: string;
  bits: number;
  groupSize: number;
  sym?: boolean;
  aBits?: number;
  aClip?: number;
  aAsym?: boolean;
  rotate?: 'none' | 'hadamard';
  rotateSeed?: number;
  calib?: string;
  calibSamples?: number;
  calibSeqLen?: number;
  calibSeed?: number;
  /** Where calibrated methods run their forward passes (default cpu). */
  device?: Device;
  force?: boolean;
  json?: boolean;
  /** GGUF output: a llama.cpp mix or a tensor type. */
  gguf?: string;
  tokenEmbeddingType?: string;
  outputTensorType?: string;
  /** Method-specific options, e.g. lrcRank for --lrc-rank. */
  [extra: string]: unknown;
}

export interface QuantizeCliOptions extends QuantizeSettings {
  out: string;
}

/** commander's attribute name of a flag: "outlier-ratio" -> "outlierRatio". */
const attribute = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function toQuantOptions(o: QuantizeCliOptions): QuantOptions {
  const method = METHODS[o.method];
  const extra: QuantOptions['extra'] = {};
  for (const opt of method.options) {
    // Unset options take the method's default, so lowbit.json records the values actually used
    // (a symbolic default such as outlier-bits' "bits" is left to the method).
    const v = o[attribute(opt.flag)] ?? (typeof opt.default === (opt.parse ?? 'number') ? opt.default : undefined);
    if (v !== undefined) extra[attribute(opt.flag)] = v as number | boolean | string;
  }
  return { bits: o.bits, groupSize: o.groupSize, symmetric: o.sym === true, extra };
}

/**
 * Method options, each flag once: several methods may share one (e.g. --outlier-ratio) with their
 * own defaults, so commander gets no default and each method applies its own when unset.
 */
function addMethodOptions(cmd: Command): void {
  const byFlag = new Map<string, { opt: MethodOption; users: string[] }>();
  for (const m of Object.values(METHODS))
    for (const opt of m.options) {
      const e = byFlag.get(opt.flag);
      if (e) e.users.push(`${m.name} ${JSON.stringify(opt.default)}`);
      else byFlag.set(opt.flag, { opt, users: [`${m.name} ${JSON.stringify(opt.default)}`] });
    }
  for (const { opt, users } of byFlag.values()) {
    const help = `${opt.description} (default: ${users.join(', ')})`;
    if (opt.parse === 'boolean') {
      cmd.addOption(new Option(`--${opt.flag}`, help));
      cmd.addOption(new Option(`--no-${opt.flag}`, `turn --${opt.flag} off`).hideHelp());
    } else {
      const o = new Option(`--${opt.flag} <value>`, help);
      if (opt.choices) o.choices(opt.choices);
      else if (opt.parse !== 'string') o.argParser(opt.integer ? intArg(opt.min ?? -Infinity, opt.max) : numberArg(opt.min ?? -Infinity, opt.max));
      cmd.addOption(o);
    }
  }
}

/** Activation bits when --a-bits is not given: LRC is a W4A4 method, everything else weight-only. */
export function defaultActivationBits(method: string): number {
  return method === 'lrc' ? 4 : 16;
}

/** --token-embedding-type / --output-tensor-type, checked. */
export function toGgufOverrides(o: { tokenEmbeddingType?: string; outputTensorType?: string }): MixOverrides {
  const typeArg = (t: string | undefined, flag: string) => {
    if (t === undefined) return undefined;
    const up = t.toUpperCase();
    if (!BLOCK_TYPES[up] && !FLOAT_TYPES[up]) throw new LowbitError(`${flag}: unknown tensor type ${t} (types: ${[...Object.keys(FLOAT_TYPES), ...Object.keys(BLOCK_TYPES)].join(', ')})`);
    return up;
  };
  return { tokenEmbeddingType: typeArg(o.tokenEmbeddingType, '--token-embedding-type'), outputTensorType: typeArg(o.outputTensorType, '--output-tensor-type') };
}

/** The GGUF output the options ask for (undefined: a lowbit directory). */
export function toGgufOutput(o: QuantizeCliOptions): GgufOutput | undefined {
  const overrides = toGgufOverrides(o);
  if (!o.gguf) {
    if (overrides.tokenEmbeddingType || overrides.outputTensorType) throw new LowbitError('--token-embedding-type and --output-tensor-type apply to GGUF output: add --gguf <type>');
    return undefined;
  }
  return { target: parseGgufTarget(o.gguf), overrides };
}

export function toRuntime(o: QuantizeCliOptions): RuntimeSpec {
  const aBits = o.aBits ?? defaultActivationBits(o.method);
  return {
    activation: aBits < 16 ? { bits: aBits, clipRatio: o.aClip ?? 0.9, symmetric: o.aAsym !== true } : null,
    rotation: o.rotate === 'hadamard' ? { seed: o.rotateSeed ?? 0 } : null,
  };
}

/** Runs a quantization with a progress bar; shared by `quantize` and `demo`. */
export async function quantizeWithProgress(model: string, o: QuantizeCliOptions): Promise<LowbitManifest> {
  const method = METHODS[o.method];
  if (!method) throw new LowbitError(`unknown method ${o.method} (available: ${Object.keys(METHODS).join(', ')})`);
  const options = toQuantOptions(o);
  const runtime = toRuntime(o);
  const gguf = toGgufOutput(o);
  if (gguf && (runtime.activation || runtime.rotation)) throw new LowbitError('GGUF files hold weights only: activation quantization and online rotations cannot be stored; drop --a-bits/--rotate or --gguf');
  if (method.kind === 'data-free') {
    if (o.calib) throw new LowbitError(`method ${method.name} uses no calibration data; drop --calib`);
    const bar = progressBar(method.name, 1, 'params');
    try {
      return await quantizeDataFree(model, o.out, { method, options, runtime, force: o.force, gguf, onProgress: (d, t, name) => bar.update(d, t, name) });
    } finally {
      bar.stop();
    }
  }
  if (!o.calib) throw new LowbitError(`method ${method.name} needs calibration text: pass --calib <file> (never the text you evaluate on)`);
  const backend = await createBackend(o.device ?? 'cpu');
  const bar = progressBar(method.name, 1, 'layers');
  try {
    return await quantizeCalibrated(model, o.out, {
      method, options, runtime, force: o.force, gguf, backend,
      calib: { file: o.calib, samples: o.calibSamples, seqLen: o.calibSeqLen, seed: o.calibSeed },
      onProgress: (d, t, what) => bar.update(d, t, what),
    });
  } finally {
    bar.stop();
    backend.dispose?.();
  }
}

export function registerQuantize(program: Command): void {
  const cmd = program
    .command('quantize')
    .description('quantize a model into a lowbit directory or (--gguf) a GGUF file')
    .argument('<model>', 'model directory (config.json, *.safetensors, tokenizer.json)')
    .requiredOption('--out <dir|file.gguf>', 'output directory (or .gguf file with --gguf); written to a temporary path and renamed when complete')
    .addOption(new Option('--method <name>', 'quantization method').choices(Object.keys(METHODS)).default('rtn'))
    .option('--bits <b>', 'bits per weight code', intArg(2, 8), 4)
    .option('--group-size <n>', 'inputs per quantization group; 0, -1 or "channel" for per-channel', groupSizeArg, 128)
    .option('--sym', 'symmetric grids (levels -2^(b-1)..2^(b-1)-1, no zero point) instead of asymmetric min/max')
    .option('--a-bits <b>', 'also quantize activations: per-token b-bit fake quantization of every block linear\'s input (16 = off; default 16, lrc 4)', intArg(2, 16))
    .option('--a-clip <r>', 'activation clip ratio: the grid spans r x the token\'s max |x|', numberArg(0.01, 1), 0.9)
    .option('--a-asym', 'asymmetric activation grids (default symmetric, as QuaRot)')
    .addOption(new Option('--rotate <kind>', 'rotate the model first (QuaRot): fuse RMSNorm scales, randomized Hadamard on the residual stream and online before down_proj').choices(['none', 'hadamard']).default('none'))
    .option('--rotate-seed <n>', 'seed of the random Hadamard signs', intArg(0), 0)
    .option('--calib <file>', 'calibration text (UTF-8) for methods that use data; never the evaluation text')
    .option('--calib-samples <n>', 'calibration windows drawn at seeded random positions (default 128)', intArg(1))
    .option('--calib-seq-len <n>', 'tokens per calibration window (default 2048, capped by max_position_embeddings)', intArg(2))
    .option('--calib-seed <n>', 'seed of the window positions (default 0)', intArg(0))
    .option('--gguf <type>', `quantize for GGUF (llama.cpp, Ollama, LM Studio): with --out x.gguf one GGUF file, otherwise a lowbit directory that \`lowbit export\` turns into it; a llama.cpp mix (${MIXES.join(', ')}) or one tensor type for every matrix (${[...Object.keys(FLOAT_TYPES), ...Object.keys(BLOCK_TYPES)].join(', ')}); codes are chosen on that type's grid`)
    .option('--token-embedding-type <type>', 'GGUF: tensor type of the token embedding (llama-quantize\'s option)')
    .option('--output-tensor-type <type>', 'GGUF: tensor type of the output (LM head) tensor (llama-quantize\'s option)')
    .addOption(deviceOption('calibrated methods\' forward passes and statistics (data-free methods never run the model)'))
    .option('--force', 'replace the output directory if it exists')
    .option('--json', 'print the quantization summary as one JSON object');
  addMethodOptions(cmd);
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

Examples:
  lowbit quantize ./assets/kdoc-6m --method rtn --bits 3 --group-size 128 --out /tmp/kdoc-rtn3
  lowbit quantize ./assets/kdoc-6m --method gptq --bits 3 --group-size 128 \\
      --calib ./assets/kdoc-calib.txt --out /tmp/kdoc-gptq3
  lowbit quantize ./assets/kdoc-6m --method gptq --gguf Q4_K_M --calib ./assets/kdoc-calib.txt \\
      --out /tmp/kdoc-q4km.gguf
  lowbit quantize ./assets/kdoc-6m --method lrc --bits 4 --a-bits 4 --lrc-rank 0.1 \\
      --rotate hadamard --calib ./assets/kdoc-calib.txt --out /tmp/kdoc-lrc`);
  cmd.hook('preAction', (_this, action) => {
    // With quantized activations the default weight grid is QuaRot's: symmetric, per channel.
    const o = action.opts() as QuantizeCliOptions;
    if ((o.aBits ?? defaultActivationBits(o.method)) < 16) {
      if (action.getOptionValueSource('groupSize') === 'default') action.setOptionValue('groupSize', 0);
      if (action.getOptionValueSource('sym') === undefined) action.setOptionValue('sym', true);
    }
  });
  cmd.action(async (model: string, o: QuantizeCliOptions) => {
    const m = await quantizeWithProgress(model, o);
    if (o.json) {
      printJson({ out: o.out, method: m.method, options: m.options, summary: m.summary, peakRssMiB: process.resourceUsage().maxRSS / 1024 });
      return;
    }
    const s = m.summary;
    const calibrated = METHODS[m.method].kind === 'calibrated';
    const errorHeaders = calibrated ? ['rel. output error', 'RTN rel. output error'] : ['rel. weight error'];
    console.log(table(['layer', 'shape', 'bits/weight', ...errorHeaders], Object.entries(m.layers).map(([name, e]) => [
      name, `${e.rows}x${e.cols}`, e.bitsPerWeight.toFixed(3),
      ...(calibrated ? [e.report?.relError, e.report?.rtnRelError] : [e.report?.weightRelError]).map((x) => Number(x ?? NaN).toExponential(3)),
    ])));
    console.log(`\n${m.method}: ${s.quantizedLayers} layers, ${s.quantizedParams} parameters at ${s.bitsPerWeight.toFixed(4)} bits/weight, ` +
      `${s.seconds.toFixed(2)} s (${formatRate(s.quantizedParams / s.seconds)} params/s), peak memory ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB -> ${o.out}`);
  });
}
