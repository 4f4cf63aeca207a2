/**
 * QuantEase against the spec's checks: monotone objective without relaxation; diagonal S gives
 * RTN after one sweep; the independent PyTorch QuantEase (scripts/oracle/quantease_oracle.py)
 * reaches the same final objective; at most GPTQ's objective on every kdoc-6m linear; the
 * outlier-aware variant at most the plain one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { quanteaseQuantize, quanteaseWeight, largestEigenvalue, isRelaxed, SPARSE_OUTLIER_FORMAT, type QuantEaseOptions } from '../src/quant/methods/quantease.js';
import { gptqQuantize } from '../src/quant/methods/gptq.js';
import { dequantizeGroupGrid, quantizeRtn } from '../src/quant/group-grid.js';

import { blockForward, embedTokens, loadBlock, loadModel, LINEAR_NAMES } from '../src/arch/llama.js';
import { blockTensorName, readFinite } from '../src/arch/layers.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { sampleWindows } from '../src/calib/sample.js';
import { openModelDir } from '../src/export/reader.js';
import { loadTokenizer, tokenizeFile } from '../src/io/tokenizer.js';
import { collectHessians } from '../src/pipeline/calibrated.js';
import { ASSETS, ROOT, randn, runCli, tmpDir, relErr } from './helpers.js';
import { layerProblems } from './helpers.js';

const opts = (o: Partial<QuantEaseOptions> = {}): QuantEaseOptions => ({
  bits: 3, groupSize: 128, symmetric: false, iterations: 30, relaxEvery: 3, actOrder: true, tolerance: 0, outlierRatio: 0, outlierStructure: 'entry', ...o,
});

const fixtureProblems = layerProblems;

test('the relaxed sweeps are the authors\' (0-based s % 3 == 1, s <= 25, never the last)', () => {
  const relaxed = Array.from({ length: 30 }, (_, s) => s).filter((s) => isRelaxed(s, 30, 3));
  assert.deepEqual(relaxed, [1, 4, 7, 10, 13, 16, 19, 22, 25]);
  assert.equal(isRelaxed(1, 2, 3), false); // the last sweep always quantizes
  assert.equal(isRelaxed(1, 30, 0), false);
});

test('power iteration finds the largest eigenvalue of a known matrix', () => {
  // [[2, 1], [1, 2]] has eigenvalues 3 and 1.
  assert.ok(Math.abs(largestEigenvalue(new Float32Array([2, 1, 1, 2]), 2) - 3) < 1e-5);
});

test('without relaxation the objective never increases over sweeps (random and real layers)', () => {
  const cases = fixtureProblems();
  const x = randn(60 * 200, 3);
  const h = new Float64Array(60 * 60);
  for (let i = 0; i < 60; i++) for (let j = 0; j < 60; j++) for (let t = 0; t < 200; t++) h[i * 60 + j] += x[t * 60 + i] * x[t * 60 + j] + (i === j ? 0.01 : 0);
  cases.push({ name: 'random', w: randn(40 * 60, 4), h, rows: 40, cols: 60 });
  for (const c of cases) {
    for (const o of [opts({ relaxEvery: 0, iterations: 8 }), opts({ relaxEvery: 0, iterations: 8, groupSize: 0, actOrder: false, bits: 4 })]) {
      const { objectives } = quanteaseQuantize(c.w, c.rows, c.cols, c.h, o);
      for (let s = 1; s < objectives.length; s++)
        assert.ok(objectives[s] <= objectives[s - 1] * (1 + 1e-6), `${c.name} sweep ${s}: ${objectives[s]} > ${objectives[s - 1]}`);
    }
  }
});

test('diagonal S: one sweep is RTN', () => {
  const rows = 12, cols = 300, w = randn(rows * cols, 5);
  const h = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) h[i * cols + i] = 1 + (i % 5);
  for (const groupSize of [128, 0]) {
    const r = quanteaseQuantize(w, rows, cols, h, opts({ iterations: 1, groupSize, actOrder: false }));
    assert.deepEqual([...r.grid.codes], [...quantizeRtn(w, rows, cols, opts({ groupSize })).codes]);
  }
});

test('agrees with the PyTorch QuantEase oracle on the final objective within 1% (15 cases)', () => {
  const oracle = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/oracle-quantease.json'), 'utf8'));
  const problems = new Map(fixtureProblems().map((p) => [p.name, p]));
  assert.equal(oracle.results.length, 15);
  for (const r of oracle.results) {
    const p = problems.get(r.layer)!;
    const res = quanteaseQuantize(p.w, p.rows, p.cols, p.h, opts({ bits: r.bits, groupSize: r.groupSize, iterations: r.sweeps, relaxEvery: r.relaxEvery, actOrder: r.actOrder }));
    const e = relErr(p.w, dequantizeGroupGrid(res.grid), p.h, p.rows, p.cols);
    assert.ok(Math.abs(e / r.quantease - 1) < 0.01, `${JSON.stringify(r)}: lowbit ${e}`);
    assert.ok(Math.abs(res.objectives.at(-1)! / e - 1) < 1e-3, 'tracked objective disagrees with the recomputed one');
  }
});

test('outlier-aware QuantEase: objective at most plain (entry and column), outliers decode exactly', () => {
  for (const p of fixtureProblems()) {
    const plain = quanteaseQuantize(p.w, p.rows, p.cols, p.h, opts()).objectives.at(-1)!;
    for (const outlierStructure of ['entry', 'column'] as const) {
      const res = quanteaseQuantize(p.w, p.rows, p.cols, p.h, opts({ outlierRatio: 0.01, outlierStructure }));
      const q = quanteaseWeight(res);
      const e = relErr(p.w, q.dequantize(), p.h, p.rows, p.cols);
      assert.ok(e <= plain, `${p.name} ${outlierStructure}: ${e} > plain ${plain}`);
      assert.equal(res.outliers!.index.length, outlierStructure === 'entry' ? Math.round(0.01 * p.rows * p.cols) : p.rows * Math.max(1, Math.round((0.01 * p.rows * p.cols) / p.rows)));
      assert.deepEqual([...SPARSE_OUTLIER_FORMAT.decode(q.tensors, q.params, p.rows, p.cols)], [...q.dequantize()]);
    }
  }
});

test('kdoc-6m: QuantEase objective at most GPTQ\'s on every linear at 3 and 4 bits (group 128)', async () => {
  const be = new CpuBackend();
  const dir = openModelDir(ASSETS.model);
  const model = loadModel(dir.config, dir.source, be);
  const ids = sampleWindows(tokenizeFile(loadTokenizer(ASSETS.model), ASSETS.calib), { samples: 16, seqLen: 512, seed: 0 });
  const shapes = [{ batch: 8, seqLen: 512 }, { batch: 8, seqLen: 512 }];
  let xs = shapes.map((_, i) => embedTokens(be, model, ids.subarray(i * 4096, (i + 1) * 4096)));
  for (let layer = 0; layer < dir.config.numLayers; layer++) {
    const block = loadBlock(dir.config, dir.source, be, layer);
    const hs = await collectHessians(be, dir.config, block, xs, shapes);
    for (const name of LINEAR_NAMES) {
      const t = blockTensorName(layer, `${name}.weight`), [rows, cols] = dir.source.shape(t), w = readFinite(dir.source, t);
      const h = hs[name].sum;
      for (const bits of [3, 4]) {
        const qe = relErr(w, dequantizeGroupGrid(quanteaseQuantize(w, rows, cols, h, opts({ bits })).grid), h, rows, cols);
        const gp = relErr(w, dequantizeGroupGrid(gptqQuantize(w, rows, cols, h, { bits, groupSize: 128, symmetric: false, damp: 0.01, actOrder: false, blockSize: 128 }).grid), h, rows, cols);
        assert.ok(qe <= gp, `layer ${layer} ${name} ${bits} bits: QuantEase ${qe} > GPTQ ${gp}`);
      }
    }
    xs = xs.map((x, i) => blockForward(be, dir.config, block, x, shapes[i]));
  }
  dir.close();
});

test('CLI: quantease and quantease-outlier write evaluable models with per-sweep reports', () => {
  const dir = tmpDir();
  for (const [method, extra] of [['quantease', ['--iterations', '4']], ['quantease-outlier', ['--iterations', '4', '--outlier-ratio', '0.02', '--group-size', '0']]] as const) {
    const out = path.join(dir, method);
    const r = runCli(['quantize', ASSETS.model, '--method', method, '--bits', '3', ...extra, '--calib', ASSETS.calib, '--calib-samples', '8', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'lowbit.json'), 'utf8'));
    const layer = manifest.layers['model.layers.0.mlp.up_proj'];
    assert.equal(layer.report.sweeps, 4);
    assert.ok(layer.report.relError < layer.report.rtnRelError);
    if (method === 'quantease-outlier') assert.ok(layer.bits.outliers > 0);
    const e = runCli(['eval', out, '--data', ASSETS.heldout, '--max-windows', '4', '--json']);
    assert.equal(e.code, 0, e.stderr);
  }
});
