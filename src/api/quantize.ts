/**
 * quantize(): a checkpoint into a lowbit directory or a GGUF file, by any registered method: the
 * options resolved (quantize-options.ts), then the streaming (data-free) or block-wise
 * (calibrated) pipeline runs.
 */
import { createBackend } from '../backend/index.js';
import type { LayerEntry, LowbitManifest } from '../export/manifest.js';
import { quantizeCalibrated } from '../pipeline/calibrated.js';
import { quantizeDataFree } from '../pipeline/data-free.js';
import { METHODS, type MethodName } from '../quant/registry.js';
import { LowbitError } from '../util/errors.js';
import { optionLabel } from '../util/options.js';
import type { QuantizeOptions } from './options.js';
import { reporter } from './progress.js';
import { planQuantize } from './quantize-options.js';

export { defaultActivationBits, ggufOverrides } from './quantize-options.js';

/** What quantize() made: the fields of `lowbit quantize --json`. */
export interface QuantizeResult {
  out: string;
  method: MethodName;
  /** The options used, defaults resolved (as recorded in lowbit.json or the GGUF file). */
  options: Record<string, unknown>;
  summary: LowbitManifest['summary'];
  /** Per quantized layer: shape, bits per weight and the method's error report. */
  layers: Record<string, LayerEntry>;
  /** The process's peak resident memory so far, MiB. */
  peakRssMiB: number;
}

/**
 * Quantizes the checkpoint in `model` (a Hugging Face directory: config.json, *.safetensors,
 * tokenizer.json) into `options.out`. Data-free methods stream the checkpoint tensor by tensor;
 * calibrated ones (gptq, quantease, lrc) need `calib`, a calibration text file.
 */
export async function quantize(model: string, options: QuantizeOptions): Promise<QuantizeResult> {
  const { o, options: quantOptions, runtime, gguf } = planQuantize(options);
  const method = METHODS[o.method];
  const common = { options: quantOptions, runtime, force: o.force, gguf, signal: o.signal };
  let manifest: LowbitManifest;
  if (method.kind === 'data-free') {
    if (o.calib) throw new LowbitError(`method ${method.name} uses no calibration data; drop ${optionLabel('calib')}`);
    manifest = await quantizeDataFree(model, o.out, { ...common, method, onProgress: reporter(o.onProgress, 'quantize', 'params') });
  } else {
    if (!o.calib) throw new LowbitError(`method ${method.name} needs calibration text: pass ${optionLabel('calib')}, a file (never the text you evaluate on)`);
    const backend = await createBackend(o.device);
    try {
      manifest = await quantizeCalibrated(model, o.out, {
        ...common, method, backend,
        calib: { file: o.calib, samples: o.calibSamples, seqLen: o.calibSeqLen, seed: o.calibSeed },
        onProgress: reporter(o.onProgress, 'quantize', 'layers'),
      });
    } finally {
      backend.dispose?.();
    }
  }
  return {
    out: o.out, method: o.method, options: manifest.options, summary: manifest.summary, layers: manifest.layers,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}
