/**
 * lowbit as a library: `import { quantize, evaluate, ... } from 'lowbit'`. Every function here is
 * what the `lowbit` command runs (the CLI only parses flags and prints), with options typed from the
 * same specifications as the flags (api/options.ts): `--group-size 64` is `{ groupSize: 64 }`.
 */
export { quantize, type QuantizeResult } from './quantize.js';
export {
  loadModel, evaluate, evaluateTasks, generate, LoadedModel,
  type EvaluationData, type EvaluateResult, type GenerateResult, type QuantizationInfo, type TasksResult,
} from './model.js';
export { inspect, type InspectResult, type ModelReport, type UnrunnableGgufReport, type TensorStats } from './inspect.js';
export { exportGguf, type ExportResult } from './export-gguf.js';
export { serveWebPage, WEB_ROOT, type WebServer } from './web.js';
export { demo, DEMO_OPTIONS, DEMO_RUNS, type DemoOptions, type DemoResult, type DemoRow } from './demo.js';
export type { ProgressEvent, ProgressStage } from './progress.js';
export {
  QUANTIZE_OPTIONS, EVALUATE_OPTIONS, TASK_OPTIONS, GENERATE_OPTIONS, LOAD_OPTIONS, EXPORT_OPTIONS,
  type QuantizeOptions, type EvaluateOptions, type TaskOptions, type GenerateOptions, type LoadModelOptions, type ExportOptions, type RunControl,
} from './options.js';
export type { OptionSpec, OptionSpecs } from '../util/options.js';
export { METHOD_NAMES, type MethodName, type MethodOptionsOf } from '../quant/registry.js';
export type { ModelConfig } from '../arch/config.js';
export type { Device } from '../backend/index.js';
export type { LowbitManifest, LayerEntry, ManifestRuntime } from '../export/manifest.js';
export type { GgufSummary } from '../export/gguf/reader.js';
export type { TaskResult, MetricValue, HarnessResults } from '../eval/tasks/run.js';
export type { MetricName } from '../eval/tasks/task.js';
export { LowbitError } from '../util/errors.js';
export { VERSION } from '../util/version.js';
export { ASSETS } from './assets.js';
