/**
 * GPTQ and QuantEase on ggml block grids (the ColumnGrid seam): with a diagonal H they reduce to
 * ggml's own rounding on the grids ggml fits (byte-identical for the K-quants, whose reference
 * also rounds on the stored grid); on real kdoc-6m layers they beat ggml's rounding (llama-quantize
 * without imatrix) on the layer objective, for every type; their files decode to what they report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GgmlColumnGrid, hessianDiagonal } from '../src/quant/ggml/ggml-column-grid.js';
import { BLOCK_TYPES } from '../src/quant/ggml/registry.js';
import { ggmlRtn, GGML_FORMAT } from '../src/quant/ggml/ggml-weight.js';
import { columnOrder, gptq, gptqSolve } from '../src/quant/methods/gptq.js';
import { quantease } from '../src/quant/methods/quantease.js';
import { randn, relErr } from './helpers.js';
import { layerProblems } from './helpers.js';

const fixtureProblems = layerProblems;

test('diagonal H: GPTQ on a K-quant grid is ggml\'s own quantization with diag(H) as its imatrix, byte for byte', () => {
  const rows = 16, cols = 512;
  const w = randn(rows * cols, 21, 0.05);
  const h = new Float64Array(cols * cols);
  for (let j = 0; j < cols; j++) h[j * cols + j] = 1 + (j % 7);
  for (const name of ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']) {
    const importance = hessianDiagonal(h, cols);
    const grid = new GgmlColumnGrid(BLOCK_TYPES[name], rows, cols, importance);
    gptqSolve(w, rows, cols, h, { damp: 0, blockSize: 128 }, grid, columnOrder(h, cols, false));
    assert.deepEqual(grid.weight().tensors.blocks.data, ggmlRtn(w, rows, cols, name, importance).tensors.blocks.data, name);
  }
});

test('GPTQ and QuantEase on ggml grids beat ggml\'s rounding on real kdoc-6m layers, and decode to what they report', () => {
  const opts = { bits: 4, groupSize: 128, symmetric: false, extra: {} };
  for (const p of fixtureProblems()) {
    for (const type of Object.keys(BLOCK_TYPES)) {
      if (p.cols % BLOCK_TYPES[type].blockSize !== 0) continue;
      const rtn = relErr(p.w, ggmlRtn(p.w, p.rows, p.cols, type).dequantize(), p.h, p.rows, p.cols);
      const stats = { hessian: p.h, tokens: 1 };
      const g = gptq.quantize(p.w, p.rows, p.cols, stats, { ...opts, ggmlType: type });
      const eg = relErr(p.w, g.dequantize(), p.h, p.rows, p.cols);
      assert.ok(eg < rtn, `${p.name} ${type}: GPTQ ${eg} vs ggml rounding ${rtn}`);
      assert.deepEqual(GGML_FORMAT.decode(g.tensors, g.params, p.rows, p.cols), g.dequantize(), `${p.name} ${type}: decode`);
      if (type === 'Q4_K' || type === 'Q3_K' || type === 'Q4_0') {
        const q = quantease.quantize(p.w, p.rows, p.cols, stats, { ...opts, extra: { iterations: 12 }, ggmlType: type });
        const eq = relErr(p.w, q.dequantize(), p.h, p.rows, p.cols);
        assert.ok(eq < rtn, `${p.name} ${type}: QuantEase ${eq} vs ggml rounding ${rtn}`);
      }
    }
  }
});

test('methods that cannot be stored in GGUF refuse with a reason', () => {
  const w = randn(64 * 256, 3), h = new Float64Array(256 * 256);
  for (let j = 0; j < 256; j++) h[j * 256 + j] = 1;
  assert.throws(() => gptq.quantize(w, 64, 256, { hessian: h, tokens: 1 }, { bits: 4, groupSize: 128, symmetric: false, extra: { actOrder: true }, ggmlType: 'Q4_K' }), /act-order cannot be stored in GGUF/);
});
