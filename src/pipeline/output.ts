/**
 * Opens the output a pipeline writes into: a lowbit directory, or, when a GGUF target is given,
 * one GGUF file. Either way it is written under a temporary name and appears only when complete.
 */
import { writeDirAtomically, writeFileAtomically } from './atomic.js';
import type { ModelConfig } from '../arch/config.js';
import type { LowbitManifest } from '../export/manifest.js';
import type { ModelSink } from '../export/sink.js';
import { QuantizedModelWriter, type ModelInfo } from '../export/writer.js';
import { GgufModelWriter } from '../export/gguf/writer.js';
import type { GgufOutput } from '../export/gguf/plan.js';
import { checkGgufExportable } from '../export/gguf/names.js';

export type { GgufOutput };

export async function writeModelOutput(out: string, info: ModelInfo & { config: ModelConfig }, gguf: GgufOutput | undefined, force: boolean | undefined,
  work: (sink: ModelSink) => Promise<LowbitManifest>): Promise<LowbitManifest> {
  // A GGUF target with an output that is not a .gguf file: a lowbit directory on the target's grids.
  const opts = { overwrite: force, inputs: [info.sourceDir] };
  if (gguf) checkGgufExportable(info.config, info.sourceDir);
  if (!gguf || !out.toLowerCase().endsWith('.gguf')) return writeDirAtomically(out, (tmp) => work(new QuantizedModelWriter(tmp, { ...info, ...(gguf ? { gguf } : {}) })), opts);
  return writeFileAtomically(out, async (tmp) => {
    const sink = new GgufModelWriter(tmp, { config: info.config, sourceDir: info.sourceDir, target: gguf.target, overrides: gguf.overrides, method: info.method, options: info.options });
    try {
      return await work(sink);
    } catch (e) {
      sink.abort();
      throw e;
    }
  }, opts);
}
