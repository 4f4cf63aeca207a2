/**
 * W4A4 machinery and LRC: Hadamard constructions; rotation invariance of the float model;
 * activation quantization; the (U, V)-step against a brute-force solve; rank 0 = W4A4 GPTQ;
 * layer error falling with rank on real layers; the CLI end to end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hadamardRotation, paley, sylvester, rotateRows, rotateRowsTransposed } from '../src/linalg/hadamard.js';
import { symmetricEigen, truncatedSvd } from '../src/linalg/svd.js';
import { dgemm } from '../src/linalg/gemm.js';
import { actQuantTs } from '../src/backend/cpu/ts-kernels.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { openModelDir } from '../src/export/reader.js';
import { embedTokens, loadBlock, loadModel } from '../src/arch/llama.js';
import { applyRuntime, readFinite } from '../src/arch/layers.js';
import { forwardLogits } from '../src/arch/architecture.js';
import { RotatedSource, planRotation } from '../src/arch/rotation.js';
import { collectHessians } from '../src/pipeline/calibrated.js';
import { sampleWindows } from '../src/calib/sample.js';
import { loadTokenizer, tokenizeFile } from '../src/io/tokenizer.js';
import { lowRankStep, lrcQuantize, lrcRank, type LrcOptions } from '../src/quant/methods/lrc.js';
import { gptq } from '../src/quant/methods/gptq.js';
import type { LayerStats } from '../src/quant/method.js';
import { ASSETS, randn, relDiff, runCli, tmpDir } from './helpers.js';

test('Sylvester and Paley matrices are Hadamard (H H^T = n I); 704 = 16 x Paley 44', () => {
  for (const [h, n] of [[sylvester(16), 16], [paley(43), 44], [paley(11), 12]] as const) {
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let k = 0; k < n; k++) dot += h[i * n + k] * h[j * n + k];
        assert.equal(dot, i === j ? n : 0);
      }
  }
  assert.equal(hadamardRotation(704, 0).construction, 'Sylvester 16 x Paley 44');
  assert.match(hadamardRotation(11008, 0).construction, /^Sylvester 2\d* x Paley|fallback/);
  assert.match(hadamardRotation(6 * 7, 0).construction, /fallback/);
});

test('rotations are orthogonal and rotateRowsTransposed inverts them (Paley, Sylvester, fallback)', () => {
  for (const n of [64, 44, 704, 42]) {
    const r = hadamardRotation(n, 3);
    const eye = new Float32Array(n * n);
    for (let i = 0; i < n; i++) eye[i * n + i] = 1;
    const q = eye.slice();
    rotateRows(q, n, r); // rows of I Q = Q
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let k = 0; k < n; k++) dot += q[i * n + k] * q[j * n + k];
        assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-5, `Q Q^T != I for n=${n}`);
      }
    const x = randn(3 * n, n);
    const y = x.slice();
    rotateRows(y, 3, r);
    rotateRowsTransposed(y, 3, r);
    assert.ok(relDiff(y, x) < 1e-5);
  }
});

test('rotating kdoc-6m (fused norms, Hadamard residual, online Hadamard before down_proj) leaves its logits unchanged to 1e-4', async () => {
  const m = openModelDir(ASSETS.model);
  const be = new CpuBackend();
  const plan = planRotation(m.config, 11);
  const original = loadModel(m.config, m.source, be);
  const rotated = loadModel(m.config, new RotatedSource(m.source, m.config, plan), be);
  for (const b of rotated.blocks) applyRuntime(b, null, plan.down);
  const ids = Int32Array.from({ length: 2 * 256 }, (_, i) => (i * 131 + 7) % 4096);
  const a = await be.read(forwardLogits(be, original, ids, { batch: 2, seqLen: 256 }));
  const b = await be.read(forwardLogits(be, rotated, ids, { batch: 2, seqLen: 256 }));
  assert.ok(relDiff(b, a) < 1e-4, `relative difference ${relDiff(b, a)}`);
  m.close();
});

test('activation quantization: hand-computed symmetric and asymmetric rows', () => {
  // Symmetric 4-bit, clip 1: scale = 1.4 / 7 = 0.2; 0.31 -> 0.4 (1.55 rounds to 2), -1.4 -> -1.4.
  const s = actQuantTs(new Float32Array([0.31, -1.4, 0, 0.1]), 4, { bits: 4, clipRatio: 1, symmetric: true });
  assert.deepEqual(Array.from(s, (v) => Number(v.toFixed(6))), [0.4, -1.4, 0, 0.2]);
  // Asymmetric 2-bit, clip 1: range [-1, 2], scale 1, zero 1: 0.4 -> 0, 1.6 -> 2.
  const a = actQuantTs(new Float32Array([-1, 0.4, 1.6, 2]), 4, { bits: 2, clipRatio: 1, symmetric: false });
  assert.deepEqual([...a], [-1, 0, 2, 2]);
  // Clipping: with clip 0.5 the largest value saturates at the top level.
  const c = actQuantTs(new Float32Array([1, 0.25]), 2, { bits: 8, clipRatio: 0.5, symmetric: true });
  assert.ok(Math.abs(c[0] - 0.5) < 1e-6 && Math.abs(c[1] - 0.25) < 0.01);
});

/** A small random W4A4 layer problem: statistics of X and X~ = Q_a(X). */
function smallProblem(rows: number, cols: number, n: number, seed: number): { w: Float32Array; stats: LayerStats } {
  const x = randn(n * cols, seed);
  for (let t = 0; t < n; t++) x[t * cols] *= 8; // one outlier channel, so Q_a hurts
  const xq = actQuantTs(x, cols, { bits: 4, clipRatio: 0.9, symmetric: true });
  const gram = (a: Float32Array, b: Float32Array) => {
    const g = new Float64Array(cols * cols);
    dgemm({ m: cols, n: cols, k: n, transA: true }, { data: Float64Array.from(a) }, { data: Float64Array.from(b) }, { data: g });
    return g;
  };
  return { w: randn(rows * cols, seed + 1), stats: { hessian: gram(x, x), tokens: n, quantizedInput: { qq: gram(xq, xq), xq: gram(x, xq) } } };
}

test('(U, V)-step equals the brute-force reduced-rank regression (eigendecomposition + full SVD)', () => {
  const rows = 9, cols = 7, k = 2;
  const { w, stats } = smallProblem(rows, cols, 400, 5);
  const wHat = w.map((v) => Math.round(v * 2) / 2); // any fixed W_hat
  const { u, v } = lowRankStep(w, wHat, rows, cols, k, stats.hessian, stats.quantizedInput!, 0);
  const l = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k, transB: true }, { data: Float64Array.from(u) }, { data: Float64Array.from(v) }, { data: l });
  // Brute force, the spec's way: Sxx^(-1/2) by eigendecomposition, full SVD of C Sxx^(-1/2).
  const sxx = stats.hessian, sqx = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) sqx[i * cols + j] = stats.quantizedInput!.xq[j * cols + i];
  const c = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k: cols }, { data: Float64Array.from(w) }, { data: sxx }, { data: c });
  dgemm({ m: rows, n: cols, k: cols, alpha: -1, beta: 1 }, { data: Float64Array.from(wHat) }, { data: sqx }, { data: c });
  const e = symmetricEigen(sxx, cols);
  const invSqrt = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) for (let t = 0; t < cols; t++) invSqrt[i * cols + j] += (e.vectors[i * cols + t] * e.vectors[j * cols + t]) / Math.sqrt(e.values[t]);
  const m = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k: cols }, { data: c }, { data: invSqrt }, { data: m });
  const svd = truncatedSvd(m, rows, cols, k, { oversample: 100 }); // exact: the subspace is everything
  const mk = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let t = 0; t < k; t++) mk[i * cols + j] += svd.u[i * k + t] * svd.s[t] * svd.v[j * k + t];
  const want = new Float64Array(rows * cols);
  dgemm({ m: rows, n: cols, k: cols }, { data: mk }, { data: invSqrt }, { data: want });
  assert.ok(relDiff(l, want) < 2e-3, `LRC ${relDiff(l, want)} (f16-rounded U, V)`);
});

test('rank 0 is exactly W4A4 GPTQ; the W4A4 error falls with rank', () => {
  const rows = 24, cols = 32;
  const { w, stats } = smallProblem(rows, cols, 600, 8);
  const o: LrcOptions = { bits: 4, groupSize: 0, symmetric: true, damp: 0.01, actOrder: false, blockSize: 128, rankFraction: 0, iterations: 3 };
  const r0 = lrcQuantize(w, rows, cols, stats, o);
  const g = gptq.quantize(w, rows, cols, stats, { bits: 4, groupSize: 0, symmetric: true, extra: {} });
  assert.deepEqual([...r0.grid.codes], [...(g.tensors.codes.data as Uint8Array)]);
  let prev = r0.errors.at(-1)!;
  for (const rankFraction of [0.1, 0.3, 0.6]) {
    const e = lrcQuantize(w, rows, cols, stats, { ...o, rankFraction }).errors.at(-1)!;
    assert.ok(e < prev, `rank ${rankFraction}: ${e} >= ${prev}`);
    prev = e;
  }
  assert.equal(lrcRank(4096, 4096, 0.1), 205);
});

test('kdoc-6m (rotated, W4A4): every layer of block 0 loses error as the rank grows', async () => {
  const m = openModelDir(ASSETS.model);
  const be = new CpuBackend();
  const plan = planRotation(m.config, 0);
  const src = new RotatedSource(m.source, m.config, plan);
  const model = loadModel(m.config, src, be);
  const act = { bits: 4, clipRatio: 0.9, symmetric: true };
  const ids = sampleWindows(tokenizeFile(loadTokenizer(ASSETS.model), ASSETS.calib), { samples: 8, seqLen: 512, seed: 0 });
  const block = loadBlock(m.config, src, be, 0);
  applyRuntime(block, act, plan.down);
  const hs = await collectHessians(be, m.config, block, [embedTokens(be, model, ids)], [{ batch: 8, seqLen: 512 }], act);
  const o: LrcOptions = { bits: 4, groupSize: 0, symmetric: true, damp: 0.01, actOrder: false, blockSize: 128, rankFraction: 0, iterations: 1 };
  for (const name of ['self_attn.q_proj', 'self_attn.o_proj', 'mlp.up_proj', 'mlp.down_proj']) {
    const t = `model.layers.0.${name}.weight`, [rows, cols] = src.shape(t), w = readFinite(src, t);
    const h = hs[name];
    const stats: LayerStats = { hessian: h.sum, tokens: h.tokens, quantizedInput: h.quantized! };
    const errs = [0, 0.1, 0.3].map((rankFraction) => lrcQuantize(w, rows, cols, stats, { ...o, rankFraction }).errors.at(-1)!);
    assert.ok(errs[1] < errs[0] && errs[2] < errs[1], `${name}: ${errs}`);
  }
  m.close();
});

test('CLI: LRC writes U, V and a runtime that eval reproduces; RTN W4A4 with rotation', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'lrc');
  const r = runCli(['quantize', ASSETS.model, '--method', 'lrc', '--lrc-rank', '0.1', '--rotate', 'hadamard', '--lrc-iterations', '1',
    '--calib', ASSETS.calib, '--calib-samples', '4', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'lowbit.json'), 'utf8'));
  assert.deepEqual(manifest.runtime.activation, { bits: 4, clipRatio: 0.9, symmetric: true });
  assert.equal(manifest.runtime.rotation.down, 'Sylvester 16 x Paley 44');
  assert.equal(manifest.options.groupSize, 0); // QuaRot's weight grid by default under W4A4
  const q = manifest.layers['model.layers.0.self_attn.q_proj'];
  assert.equal(q.bits.lowRank, 16 * 13 * (256 + 256)); // k = round(0.1 * 256 * 256 / 512) = 13
  assert.ok(q.report.relError < q.report.rtnRelError);
  const e = runCli(['eval', out, '--data', ASSETS.heldout, '--max-windows', '4', '--json']);
  assert.equal(e.code, 0, e.stderr);
  const rtn = path.join(dir, 'rtn');
  assert.equal(runCli(['quantize', ASSETS.model, '--method', 'rtn', '--a-bits', '8', '--rotate', 'hadamard', '--out', rtn]).code, 0);
  const e2 = runCli(['eval', rtn, '--data', ASSETS.heldout, '--max-windows', '4', '--json']);
  assert.equal(e2.code, 0, e2.stderr);
  assert.ok(JSON.parse(e2.stdout).ppl < 20);
});
