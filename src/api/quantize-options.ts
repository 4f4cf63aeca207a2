/**
 * What quantize()'s options mean, resolved: the method, its QuantOptions, the runtime (activation
 * quantization, rotation) and the GGUF target. The options are checked against their specifications
 * (api/options.ts and the method's own), and the defaults that depend on other options are set here
 * (QuaRot's grid when activations are quantized). No Node module: the browser page resolves its
 * choices here too, so its GGUF equals `lowbit quantize`'s.
 */
import type { RuntimeSpec } from '../arch/layers.js';
import { parseGgufTarget, type GgufOutput } from '../export/gguf/plan.js';
import type { MixOverrides } from '../quant/ggml/mixes.js';
import { BLOCK_TYPES, FLOAT_TYPES } from '../quant/ggml/registry.js';
import type { QuantOptions } from '../quant/method.js';
import { METHODS, type MethodName } from '../quant/registry.js';
import { LowbitError } from '../util/errors.js';
import { checkOptions, describeAccepted, optionLabel, withDefaults, type OptionValue } from '../util/options.js';
import { QUANTIZE_OPTIONS, RUN_CONTROL_KEYS, type QuantizeOptions } from './options.js';

/** Activation bits when aBits is not given: LRC is a W4A4 method, everything else weight-only. */
export function defaultActivationBits(method: string): number {
  return method === 'lrc' ? 4 : 16;
}

/** quantize()'s options checked, with every default resolved. */
export type ResolvedOptions = QuantizeOptions & { method: MethodName; bits: number; groupSize: number; sym: boolean; aBits: number };

/** Checks the options (shared and the method's own) and resolves the defaults that depend on other options. */
export function resolveQuantizeOptions(options: QuantizeOptions): ResolvedOptions {
  const method = METHODS[options.method ?? 'rtn'];
  if (!method) throw new LowbitError(`quantize: option ${optionLabel('method')} must be ${describeAccepted(QUANTIZE_OPTIONS.method)}, got ${JSON.stringify(options.method)}`);
  for (const key of Object.keys(options)) {
    const owners = Object.values(METHODS).filter((m) => key in m.options).map((m) => m.name);
    if (owners.length && !(key in method.options) && (options as unknown as Record<string, unknown>)[key] !== undefined)
      throw new LowbitError(`quantize: method ${method.name} has no option ${optionLabel(key)} (it belongs to ${owners.join(', ')}); ${method.name}'s own options: ${Object.keys(method.options).join(', ') || 'none'}`);
  }
  checkOptions('quantize', { ...QUANTIZE_OPTIONS, ...method.options }, options, RUN_CONTROL_KEYS);
  const o = withDefaults(QUANTIZE_OPTIONS, options) as ResolvedOptions;
  o.aBits = options.aBits ?? defaultActivationBits(o.method);
  // With quantized activations the default weight grid is QuaRot's: symmetric, per channel.
  const actQuantized = o.aBits < 16;
  o.groupSize = options.groupSize ?? (actQuantized ? 0 : 128);
  o.sym = options.sym ?? actQuantized;
  return o;
}

/** The method's options as the method reads them: given values, else the method's own defaults. */
export function quantOptions(o: ResolvedOptions): QuantOptions {
  const extra: Record<string, OptionValue> = {};
  for (const [key, spec] of Object.entries(METHODS[o.method].options)) {
    // Unset options take the method's default, so lowbit.json records the values actually used
    // (an option without a fixed default, such as outlierBits, is left to the method).
    const v = (o as unknown as Record<string, unknown>)[key] ?? spec.default;
    if (v !== undefined) extra[key] = v as OptionValue;
  }
  return { bits: o.bits, groupSize: o.groupSize, symmetric: o.sym, extra };
}

/** tokenEmbeddingType / outputTensorType, checked against ggml's types. */
export function ggufOverrides(o: { tokenEmbeddingType?: string; outputTensorType?: string }): MixOverrides {
  const typeArg = (t: string | undefined, name: string) => {
    if (t === undefined) return undefined;
    const up = t.toUpperCase();
    if (!BLOCK_TYPES[up] && !FLOAT_TYPES[up]) throw new LowbitError(`${optionLabel(name)}: unknown tensor type ${t} (types: ${[...Object.keys(FLOAT_TYPES), ...Object.keys(BLOCK_TYPES)].join(', ')})`);
    return up;
  };
  return { tokenEmbeddingType: typeArg(o.tokenEmbeddingType, 'tokenEmbeddingType'), outputTensorType: typeArg(o.outputTensorType, 'outputTensorType') };
}

/** The GGUF output the options ask for (undefined: a lowbit directory). */
export function ggufOutput(o: ResolvedOptions): GgufOutput | undefined {
  const overrides = ggufOverrides(o);
  if (!o.gguf) {
    if (overrides.tokenEmbeddingType || overrides.outputTensorType) throw new LowbitError(`${optionLabel('tokenEmbeddingType')} and ${optionLabel('outputTensorType')} apply to GGUF output: add ${optionLabel('gguf')}`);
    return undefined;
  }
  return { target: parseGgufTarget(o.gguf), overrides };
}

export function runtimeSpec(o: ResolvedOptions): RuntimeSpec {
  return {
    activation: o.aBits < 16 ? { bits: o.aBits, clipRatio: o.aClip!, symmetric: o.aAsym !== true } : null,
    rotation: o.rotate === 'hadamard' ? { seed: o.rotateSeed! } : null,
  };
}

/** Everything a quantization run needs from the options, checked. */
export function planQuantize(options: QuantizeOptions): { o: ResolvedOptions; options: QuantOptions; runtime: RuntimeSpec; gguf: GgufOutput | undefined } {
  const o = resolveQuantizeOptions(options);
  const runtime = runtimeSpec(o);
  const gguf = ggufOutput(o);
  if (gguf && (runtime.activation || runtime.rotation)) throw new LowbitError(`GGUF files hold weights only: activation quantization and online rotations cannot be stored; drop ${optionLabel('aBits')}, ${optionLabel('rotate')} or ${optionLabel('gguf')}`);
  return { o, options: quantOptions(o), runtime, gguf };
}
