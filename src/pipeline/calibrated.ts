/**
 * Block-wise calibrated quantization in Node (GPTQ, QuantEase, LRC): the loop of
 * calibrated-blocks.ts on a backend, written atomically into a lowbit directory or a GGUF file.
 */
import { createBackend } from '../backend/index.js';
import type { LowbitManifest } from '../export/manifest.js';
import { openModelDir } from '../export/reader.js';
import { checkOutputDir } from './atomic.js';
import { writeModelOutput } from './output.js';
import { calibrateInto, planCalibrated, type CalibratedRun } from './calibrated-blocks.js';

export { MIN_ROUTED_TOKENS, collectDeviceHessians, collectHessians, resolveCalibration, type CalibratedRun, type CalibrationRequest, type LayerReport } from './calibrated-blocks.js';

export async function quantizeCalibrated(srcDir: string, outDir: string, run: CalibratedRun): Promise<LowbitManifest> {
  checkOutputDir(outDir, { overwrite: run.force, inputs: [srcDir] });
  const model = openModelDir(srcDir);
  try {
    run.signal?.throwIfAborted();
    const plan = planCalibrated(model, srcDir, run);
    const be = run.backend ?? await createBackend();
    return await writeModelOutput(outDir, plan.info, run.gguf, run.force, (sink) => calibrateInto(model, plan, sink, run, be));
  } finally {
    model.close();
  }
}
