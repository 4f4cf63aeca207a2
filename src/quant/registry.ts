/** Registered quantization methods and saved-weight formats. */
import type { QuantMethod } from './method.js';
import type { WeightFormat } from './types.js';
import { GROUP_GRID_FORMAT } from './group-grid.js';
import { rtn } from './methods/rtn.js';
import { gptq } from './methods/gptq.js';
import { adpq, ADPQ_FORMAT } from './methods/adpq.js';

export const METHODS: Record<string, QuantMethod> = {
  rtn,
  adpq,
  gptq,
};

export const FORMATS: Record<string, WeightFormat> = {
  [GROUP_GRID_FORMAT.name]: GROUP_GRID_FORMAT,
  [ADPQ_FORMAT.name]: ADPQ_FORMAT,
};
