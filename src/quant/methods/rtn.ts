/**
 * RTN: round-to-nearest on group-wise min/max grids. The baseline every method must beat; it
 * needs no data and touches each weight once.
 */
import type { DataFreeMethod } from '../method.js';
import { groupGridWeight, quantizeRtn } from '../group-grid.js';
import { ggmlRtn } from '../ggml/ggml-weight.js';

export const rtn = {
  name: 'rtn',
  kind: 'data-free',
  summary: 'round-to-nearest on per-group min/max (or absmax) grids (on a GGUF type: ggml\'s own quantizer); no data',
  options: {},
  quantize: (w, rows, cols, o) => (o.ggmlType ? ggmlRtn(w, rows, cols, o.ggmlType) : groupGridWeight(quantizeRtn(w, rows, cols, o))),
} satisfies DataFreeMethod;
