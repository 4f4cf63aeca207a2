/**
 * The options of every API call, as specifications (util/options.ts): the library's option types
 * are computed from these objects, the library checks its arguments against them, and the CLI makes
 * its flags and --help from them. Method-specific options live with each method
 * (quant/methods/*: `options`) and join `quantize`'s here.
 */
import { DEVICES } from '../backend/index.js';
import { MIXES } from '../quant/ggml/mixes.js';
import { BLOCK_TYPES, FLOAT_TYPES } from '../quant/ggml/registry.js';
import { TASKS, TASK_ALIASES } from '../eval/tasks/registry.js';
import { METHOD_NAMES, type MethodName, type MethodOptionsOf } from '../quant/registry.js';
import type { OptionSpecs, OptionValues } from '../util/options.js';
import type { ProgressEvent } from './progress.js';

const TENSOR_TYPES = [...Object.keys(FLOAT_TYPES), ...Object.keys(BLOCK_TYPES)];

/** Where a model runs: shared by loadModel, evaluate, generate and calibrated quantize. */
export const DEVICE_OPTIONS = {
  device: {
    type: 'string', choices: DEVICES, default: 'cpu',
    description: 'where forward passes run: cpu, gpu (WebGPU: needs the npm package webgpu and a Vulkan, Metal or D3D12 driver) or auto (the GPU when one is found). '
      + 'On a GPU with int8 subgroup matrices (NVIDIA through Dawn), f32 linears multiply by exact int8 slices; LOWBIT_GPU_PRODUCTS=f32 keeps the f32 kernel',
  },
} as const satisfies OptionSpecs;

export const LOAD_OPTIONS = {
  ...DEVICE_OPTIONS,
  packed: {
    type: 'boolean', negatable: true, defaultText: 'when widening them all would take over 1 GiB',
    description: 'keep linear weights as stored (quantized codes, bf16/f16) and widen them one layer at a time; on a GPU, bf16/f16 weights stay resident in 16 bits and the kernel widens them (false: widen all at load; more memory)',
  },
} as const satisfies OptionSpecs;

export const QUANTIZE_OPTIONS = {
  out: { type: 'string', required: true, valueName: 'dir|file.gguf', description: 'output directory (or .gguf file with --gguf); written to a temporary path and renamed when complete' },
  method: { type: 'string', choices: METHOD_NAMES, default: 'rtn', description: 'quantization method' },
  bits: { type: 'int', min: 2, max: 8, default: 4, description: 'bits per weight code' },
  groupSize: {
    type: 'int', min: 0, defaultText: '128; 0 when activations are quantized', valueName: 'n',
    parseText: (text) => (['channel', 'per-channel', '-1'].includes(text) ? 0 : Number(text)),
    description: 'inputs per quantization group; 0 (the CLI also takes -1 or "channel") for one group per output channel',
  },
  sym: {
    type: 'boolean', defaultText: 'false; true when activations are quantized',
    description: 'symmetric grids (levels -2^(b-1)..2^(b-1)-1, no zero point) instead of asymmetric min/max',
  },
  aBits: {
    type: 'int', min: 2, max: 16, defaultText: '16, lrc 4', valueName: 'b',
    description: 'also quantize activations: per-token b-bit fake quantization of every block linear\'s input (16 = off)',
  },
  aClip: { type: 'number', min: 0.01, max: 1, default: 0.9, valueName: 'r', description: 'activation clip ratio: the grid spans r x the token\'s max |x|' },
  aAsym: { type: 'boolean', default: false, description: 'asymmetric activation grids instead of QuaRot\'s symmetric ones' },
  rotate: {
    type: 'string', choices: ['none', 'hadamard'], default: 'none', valueName: 'kind',
    description: 'rotate the model first (QuaRot): fuse RMSNorm scales, randomized Hadamard on the residual stream and online before down_proj',
  },
  rotateSeed: { type: 'int', min: 0, default: 0, description: 'seed of the random Hadamard signs' },
  calib: { type: 'string', valueName: 'file', description: 'calibration text (UTF-8) for methods that use data; never the evaluation text' },
  calibSamples: { type: 'int', min: 1, defaultText: '128', description: 'calibration windows drawn at seeded random positions' },
  calibSeqLen: { type: 'int', min: 2, defaultText: '2048, capped by max_position_embeddings', description: 'tokens per calibration window' },
  calibSeed: { type: 'int', min: 0, defaultText: '0', description: 'seed of the window positions' },
  gguf: {
    type: 'string', valueName: 'type',
    description: `quantize for GGUF (llama.cpp, Ollama, LM Studio): with an output ending in .gguf one GGUF file, otherwise a lowbit directory that lowbit export (exportGguf) turns into it; a llama.cpp mix (${MIXES.join(', ')}) or one tensor type for every matrix (${TENSOR_TYPES.join(', ')}); codes are chosen on that type's grid`,
  },
  tokenEmbeddingType: { type: 'string', valueName: 'type', description: 'GGUF: tensor type of the token embedding (llama-quantize\'s option)' },
  outputTensorType: { type: 'string', valueName: 'type', description: 'GGUF: tensor type of the output (LM head) tensor (llama-quantize\'s option)' },
  ...DEVICE_OPTIONS,
  force: { type: 'boolean', default: false, description: 'replace the output if it exists' },
} as const satisfies OptionSpecs;

export const EVALUATE_OPTIONS = {
  seqLen: { type: 'int', min: 2, default: 512, valueName: 'n', description: 'window length in tokens; the text is cut into non-overlapping windows' },
  maxWindows: { type: 'int', min: 1, valueName: 'n', description: 'evaluate only the first n windows' },
  batch: { type: 'int', min: 1, default: 1, valueName: 'n', description: 'windows per forward pass' },
  beyondContext: { type: 'boolean', default: false, description: 'allow seqLen above the model\'s max_position_embeddings (refused otherwise)' },
} as const satisfies OptionSpecs;

export const TASK_OPTIONS = {
  tasks: {
    type: 'list', choices: [...Object.keys(TASKS), ...Object.keys(TASK_ALIASES)], valueName: 'a,b,...',
    description: `lm-evaluation-harness tasks, zero-shot (${Object.keys(TASKS).join(', ')}), with their data files from taskDir (--task-dir)`,
  },
  taskDir: { type: 'string', valueName: 'dir', description: 'folder holding each task\'s published data file as <task>.jsonl or <task>.parquet (README: "Zero-shot tasks")' },
  tasksFile: { type: 'list', valueName: 'file,...', description: 'your own multiple-choice tasks: JSONL files of {"context", "choices", "gold"} records' },
  limit: { type: 'int', min: 1, valueName: 'n', description: 'only the first n documents of each task (a quick look, not comparable with published numbers)' },
} as const satisfies OptionSpecs;

export const GENERATE_OPTIONS = {
  maxTokens: { type: 'int', min: 1, default: 64, valueName: 'n', description: 'tokens to generate' },
  temperature: { type: 'number', min: 0, max: 100, default: 0, valueName: 't', description: 'sampling temperature; 0 = greedy (argmax)' },
  topK: { type: 'int', min: 0, default: 40, valueName: 'k', description: 'sample among the k most likely tokens (0 = all)' },
  topP: { type: 'number', min: 0.0001, max: 1, default: 0.95, valueName: 'p', description: 'sample among the most likely tokens up to this cumulative probability' },
  seed: { type: 'int', min: 0, default: 0, description: 'seed of the sampler (the same seed gives the same text)' },
} as const satisfies OptionSpecs;

export const EXPORT_OPTIONS = {
  out: { type: 'string', required: true, valueName: 'file.gguf', description: 'output GGUF file; written under a temporary name and renamed when complete' },
  tokenEmbeddingType: { type: 'string', valueName: 'type', description: 'tensor type of the token embedding (default: as stored, or the directory\'s GGUF target)' },
  outputTensorType: { type: 'string', valueName: 'type', description: 'tensor type of the output (LM head) tensor (default: as stored, or the directory\'s GGUF target)' },
  force: { type: 'boolean', default: false, description: 'replace the output file if it exists' },
} as const satisfies OptionSpecs;

/** What every long call accepts besides its options: progress reports and cancellation. */
export interface RunControl {
  /** Called as work advances (the CLI draws its progress bars from these). */
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Stops the work at the next tensor, layer, window or token; the promise rejects with the
   * signal's reason (an AbortError unless given) and no output is left on disk. (exportGguf, which
   * only copies, looks at it once, before it starts.)
   */
  signal?: AbortSignal;
}

export const RUN_CONTROL_KEYS = ['onProgress', 'signal'] as const;

type SharedQuantizeOptions = OptionValues<typeof QUANTIZE_OPTIONS>;

/**
 * quantize()'s options: the shared ones (out, method, bits, groupSize, ...) and, for the method
 * named, that method's own (e.g. `{ method: 'gptq', damp: 0.01, actOrder: true }`).
 */
export type QuantizeOptions = { [M in MethodName]: Omit<SharedQuantizeOptions, 'method'> & { method?: M } & MethodOptionsOf<M> }[MethodName] & RunControl;

export type LoadModelOptions = OptionValues<typeof LOAD_OPTIONS> & RunControl;
export type EvaluateOptions = OptionValues<typeof EVALUATE_OPTIONS> & RunControl;
export type TaskOptions = OptionValues<typeof TASK_OPTIONS> & RunControl;
export type GenerateOptions = OptionValues<typeof GENERATE_OPTIONS> & RunControl & {
  /** Called with each piece of new text as it is generated (multi-byte characters whole). */
  onText?: (text: string) => void;
};
export type ExportOptions = OptionValues<typeof EXPORT_OPTIONS> & RunControl;
