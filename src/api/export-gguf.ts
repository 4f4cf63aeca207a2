/** exportGguf(): a lowbit directory as one GGUF file (llama.cpp, Ollama, LM Studio), without changing a weight. */
import { exportGguf as writeGguf } from '../pipeline/export-gguf.js';
import type { LowbitManifest } from '../export/manifest.js';
import { LowbitError } from '../util/errors.js';
import { checkOptions, withDefaults } from '../util/options.js';
import { EXPORT_OPTIONS, RUN_CONTROL_KEYS, type ExportOptions } from './options.js';
import { ggufOverrides } from './quantize-options.js';

export interface ExportResult {
  out: string;
  method: string;
  summary: LowbitManifest['summary'];
}

/**
 * Writes the lowbit directory `dir` (made by quantize) as the GGUF file `options.out`. Refused with
 * the reason when a layer cannot be stored in a ggml type (AdpQ's salient weights, LRC's factors,
 * activation quantization, ...).
 */
export async function exportGguf(dir: string, options: ExportOptions): Promise<ExportResult> {
  checkOptions('exportGguf', EXPORT_OPTIONS, options, RUN_CONTROL_KEYS);
  const o = withDefaults(EXPORT_OPTIONS, options);
  if (!o.out.toLowerCase().endsWith('.gguf')) throw new LowbitError('the output of export is a GGUF file: give out (--out) a name ending in .gguf', o.out);
  o.signal?.throwIfAborted();
  const m = await writeGguf(dir, o.out, { overrides: ggufOverrides(o), force: o.force });
  return { out: o.out, method: m.method, summary: m.summary };
}
