/** Registered quantization methods and saved-weight formats. */
import type { QuantMethod } from './method.js';
import type { OptionValues } from '../util/options.js';
import type { WeightFormat } from './types.js';
import { GROUP_GRID_FORMAT } from './group-grid.js';
import { rtn } from './methods/rtn.js';
import { gptq } from './methods/gptq.js';
import { adpq, ADPQ_FORMAT } from './methods/adpq.js';
import { quantease, quanteaseOutlier, SPARSE_OUTLIER_FORMAT } from './methods/quantease.js';
import { lrc } from './methods/lrc.js';
import { GGML_FORMAT } from './ggml/ggml-weight.js';

const REGISTERED = {
  rtn,
  adpq,
  gptq,
  quantease,
  'quantease-outlier': quanteaseOutlier,
  lrc,
} satisfies Record<string, QuantMethod>;

/** The registered methods by name. */
export const METHODS: Readonly<Record<string, QuantMethod>> = REGISTERED;
export type MethodName = keyof typeof REGISTERED;
/** The registered methods' names, in --help's order. */
export const METHOD_NAMES = Object.keys(REGISTERED) as MethodName[];

/** The options method `M` takes besides the shared ones (e.g. gptq: damp, actOrder, blockSize), as typed values. */
export type MethodOptionsOf<M extends MethodName> = OptionValues<(typeof REGISTERED)[M]['options']>;

export const FORMATS: Record<string, WeightFormat> = {
  [GROUP_GRID_FORMAT.name]: GROUP_GRID_FORMAT,
  [ADPQ_FORMAT.name]: ADPQ_FORMAT,
  [SPARSE_OUTLIER_FORMAT.name]: SPARSE_OUTLIER_FORMAT,
  [GGML_FORMAT.name]: GGML_FORMAT,
};
