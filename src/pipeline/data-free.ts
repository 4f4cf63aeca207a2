/**
 * Streaming quantization for data-free methods (RTN, AdpQ): the checkpoint is read one tensor
 * at a time, each block linear weight is quantized and written, every other tensor is copied
 * as stored. Peak memory is one tensor (plus its quantized form), whatever the model's size.
 */
import { parseLinearWeightName, readFinite, validateTensors } from '../arch/llama.js';
import { openModelDir } from '../export/reader.js';
import { QuantizedModelWriter } from '../export/writer.js';
import type { LowbitManifest } from '../export/manifest.js';
import { writeDirAtomically, checkOutputDir } from '../io/atomic.js';
import { Checkpoint } from '../io/checkpoint.js';
import type { DataFreeMethod, QuantOptions } from '../quant/method.js';
import { LowbitError } from '../util/errors.js';

export interface DataFreeRun {
  method: DataFreeMethod;
  options: QuantOptions;
  /** Replace an existing output directory. */
  force?: boolean;
  /** Progress in parameters (quantized or copied). */
  onProgress?: (paramsDone: number, paramsTotal: number, tensor: string) => void;
}

export async function quantizeDataFree(srcDir: string, outDir: string, run: DataFreeRun): Promise<LowbitManifest> {
  checkOutputDir(outDir, { overwrite: run.force });
  const model = openModelDir(srcDir);
  try {
    if (model.manifest) throw new LowbitError('model is already quantized by lowbit; quantize the original checkpoint', srcDir);
    validateTensors(model.config, model.source);
    const ckpt = model.source as Checkpoint;
    const names = ckpt.names();
    const count = (n: string) => ckpt.shape(n).reduce((a, b) => a * b, 1);
    const total = names.reduce((s, n) => s + count(n), 0);
    const start = performance.now();
    return await writeDirAtomically(outDir, async (tmp) => {
      const writer = new QuantizedModelWriter(tmp, {
        method: run.method.name, options: serialiseOptions(run.options), sourceDir: srcDir, architecture: model.config.family,
      });
      let done = 0;
      for (const name of names) {
        const info = ckpt.info(name);
        const linear = parseLinearWeightName(name);
        if (linear) {
          const [rows, cols] = info.shape;
          const w = readFinite(ckpt, name);
          const q = run.method.quantize(w, rows, cols, run.options);
          writer.quantized(name.slice(0, -'.weight'.length), q, { weightRelError: relativeError(w, q.dequantized) });
        } else {
          if (info.dtype === 'F32' || info.dtype === 'F16' || info.dtype === 'BF16') readFinite(ckpt, name);
          writer.passthrough(name, info.dtype, info.shape, ckpt.readBytes(name));
        }
        done += count(name);
        run.onProgress?.(done, total, name);
        await new Promise((r) => setImmediate(r)); // let progress output and signals through
      }
      return writer.finish((performance.now() - start) / 1000);
    }, { overwrite: run.force });
  } finally {
    model.close();
  }
}

/** ||w - q||^2 / ||w||^2. */
export function relativeError(w: Float32Array, q: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < w.length; i++) {
    const d = w[i] - q[i];
    num += d * d;
    den += w[i] * w[i];
  }
  return den > 0 ? num / den : 0;
}

export function serialiseOptions(o: QuantOptions): Record<string, unknown> {
  return { bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric, ...o.extra };
}
