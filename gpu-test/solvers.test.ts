/**
 * The solvers' operations on the WebGPU backend (backend/solvers.ts) against the host's: the
 * inverse-Cholesky factor against linalg/hessian.ts in f64, products on views against a direct
 * loop, and GPTQ and RTN on the device against the host's GPTQ and RTN on the same layer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createBackend, type Backend } from '../src/backend/index.js';
import type { DeviceSolvers } from '../src/backend/solvers.js';
import { inverseCholeskyUpper } from '../src/linalg/hessian.js';
import { gptqOnDevice, gptqQuantize } from '../src/quant/methods/gptq.js';
import { dequantizeGroupGrid, quantizeRtn, rtnOnDevice } from '../src/quant/group-grid.js';
import { quanteaseOnDevice, quanteaseQuantize } from '../src/quant/methods/quantease.js';
import { layerProblems, randn, relDiff, relErr } from '../test/helpers.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { truncatedSvd } from '../src/linalg/svd.js';
import { truncatedSvdOnDevice } from '../src/quant/svd-device.js';
import { lowRankProduct, lrcOnDevice, lrcQuantize } from '../src/quant/methods/lrc.js';
import { layerRelativeError } from '../src/quant/act-aware.js';

let gpu: Backend;
let solvers: DeviceSolvers;

before(async () => {
  gpu = await createBackend('gpu');
  assert.ok(gpu.solvers, 'the WebGPU backend has solvers');
  solvers = gpu.solvers;
});
after(() => gpu?.dispose?.());

/** X^T X / n + 0.1 I for X [n, d] of random rows with uneven column scales: symmetric positive definite, moderately conditioned. */
function spd(d: number, n: number, seed: number): Float64Array {
  const x = randn(n * d, seed);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] *= 1 + (j % 7);
  const h = new Float64Array(d * d);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < d; a++) {
      const xa = x[i * d + a];
      for (let b = 0; b < d; b++) h[a * d + b] += (xa * x[i * d + b]) / n;
    }
  for (let j = 0; j < d; j++) h[j * d + j] += 0.1;
  return h;
}

test('inverseCholeskyUpper on the GPU equals the host\'s f64 factor (sizes around the 32-column blocks), and refuses an indefinite matrix', async () => {
  for (const n of [1, 31, 33, 200]) {
    const h = spd(n, 3 * n + 5, n);
    const add = Float32Array.from({ length: n }, (_, j) => 0.01 * (j % 3));
    const damped = Float64Array.from(h);
    for (let j = 0; j < n; j++) damped[j * n + j] += add[j];
    const want = inverseCholeskyUpper(damped, n)!;
    const u = await solvers.inverseCholeskyUpper(gpu.upload(Float32Array.from(h), [n, n]), add);
    assert.ok(u, `n=${n}: positive definite`);
    const got = await gpu.read(u);
    const upper = (m: ArrayLike<number>) => Array.from(m, (v, i) => (i % n >= Math.floor(i / n) ? v : 0));
    const d = relDiff(upper(got), upper(want));
    assert.ok(d < 1e-4, `n=${n}: relative difference ${d.toExponential(2)}`);
  }
  const negative = new Float32Array(40 * 40);
  for (let j = 0; j < 40; j++) negative[j * 40 + j] = j === 35 ? -1 : 1;
  assert.equal(await solvers.inverseCholeskyUpper(gpu.upload(negative, [40, 40]), new Float32Array(40)), null);
});

test('gemm on views: C = alpha op(A) op(B) + beta C inside larger matrices, in all four transpose combinations', async () => {
  const [m, n, k, ld] = [37, 150, 45, 160];
  for (const transA of [false, true])
    for (const transB of [false, true]) {
      const a = randn(ld * ld, 1), b = randn(ld * ld, 2), c = randn(ld * ld, 3);
      const [offA, offB, offC] = [3 * ld + 5, 7, 2 * ld + 1];
      const want = Float32Array.from(c);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a[offA + (transA ? p * ld + i : i * ld + p)] * b[offB + (transB ? j * ld + p : p * ld + j)];
          want[offC + i * ld + j] = -0.5 * s + 2 * c[offC + i * ld + j];
        }
      const [ta, tb, tc] = [a, b, c].map((x) => gpu.upload(x, [ld, ld]));
      solvers.gemm({ tensor: tc, offset: offC, ld }, { tensor: ta, offset: offA, ld }, { tensor: tb, offset: offB, ld }, { m, n, k, transA, transB, alpha: -0.5, beta: 2 });
      const d = relDiff(await gpu.read(tc), want);
      assert.ok(d < 1e-6, `tA=${transA} tB=${transB}: ${d.toExponential(2)}`);
    }
});

test('GPTQ on the GPU matches the host\'s GPTQ (same layer objective within 2%, codes alike), act-order, dead inputs and blocks that do not divide the columns included', async () => {
  const [rows, cols] = [70, 300];
  const h = spd(cols, 600, 9);
  for (let j = 0; j < cols; j++) { h[17 * cols + j] = 0; h[j * cols + 17] = 0; } // a dead input
  const w = randn(rows * cols, 10, 0.05);
  for (const spec of [
    { bits: 4, groupSize: 128, symmetric: false, actOrder: false }, { bits: 3, groupSize: 0, symmetric: true, actOrder: false },
    { bits: 4, groupSize: 64, symmetric: false, actOrder: false }, { bits: 3, groupSize: 64, symmetric: false, actOrder: true },
  ]) {
    const o = { ...spec, damp: 0.01, blockSize: 128 };
    const host = gptqQuantize(w, rows, cols, h, o);
    const dev = await gptqOnDevice({ solvers, weight: gpu.upload(w, [rows, cols]), hessian: gpu.upload(Float32Array.from(h), [cols, cols]), tokens: 600, rows, cols }, o);
    const hostErr = relErr(w, dequantizeGroupGrid(host.grid), h, rows, cols);
    const devErr = relErr(w, dequantizeGroupGrid(dev.grid), h, rows, cols);
    const label = JSON.stringify(spec);
    assert.ok(Math.abs(devErr - hostErr) / hostErr < 0.02, `${label}: objective ${devErr} on the GPU, ${hostErr} on the host`);
    assert.ok(devErr < 0.8 * relErr(w, dequantizeGroupGrid(quantizeRtn(w, rows, cols, spec)), h, rows, cols), `${label}: better than RTN`);
    let same = 0;
    for (let i = 0; i < host.grid.codes.length; i++) same += host.grid.codes[i] === dev.grid.codes[i] ? 1 : 0;
    assert.ok(same / host.grid.codes.length > 0.9, `${label}: ${((100 * same) / host.grid.codes.length).toFixed(1)}% of codes equal`);
    const groupOf17 = dev.grid.groupIndex ? dev.grid.groupIndex[17] : Math.floor(17 / dev.grid.groupSize);
    for (let r = 0; r < rows; r++) assert.equal(dev.grid.codes[r * cols + 17], dev.grid.zeros[r * dev.grid.scales.length / rows + groupOf17], 'a dead input stores zero');
    assert.deepEqual(dev.grid.groupIndex, host.grid.groupIndex, `${label}: the same g_idx`);
    // The dequantized tensor it hands back is what its codes decode to.
    assert.ok(relDiff(await gpu.read(dev.dequantized), dequantizeGroupGrid(dev.grid)) < 1e-6, `${label}: dequantized tensor = decoded codes`);
  }
});

test('QuantEase on the GPU matches the host\'s QuantEase sweep by sweep (objectives, relaxed sweeps, codes), act-order, dead inputs, a partial last block and a real layer included', async () => {
  const random = { rows: 70, cols: 300, h: spd(300, 600, 11), w: randn(70 * 300, 12, 0.05) };
  for (let j = 0; j < 300; j++) { random.h[40 * 300 + j] = 0; random.h[j * 300 + 40] = 0; } // a dead input
  // A kdoc-6m layer's own W and H: strongly correlated inputs, where every in-block update matters.
  const real = layerProblems()[0];
  for (const { spec, w, h, rows, cols } of [
    { spec: { bits: 4, groupSize: 128, symmetric: false, actOrder: false, relaxEvery: 0 }, ...random },
    { spec: { bits: 3, groupSize: 64, symmetric: false, actOrder: true, relaxEvery: 3 }, ...random },
    { spec: { bits: 3, groupSize: 0, symmetric: true, actOrder: true, relaxEvery: 3 }, ...random },
    { spec: { bits: 4, groupSize: 128, symmetric: false, actOrder: true, relaxEvery: 3 }, ...real },
  ]) {
    const o = { ...spec, iterations: 12, tolerance: 0, outlierRatio: 0, outlierStructure: 'entry' as const };
    const host = quanteaseQuantize(w, rows, cols, h, o);
    const dev = await quanteaseOnDevice({ solvers, weight: gpu.upload(w, [rows, cols]), hessian: gpu.upload(Float32Array.from(h), [cols, cols]), tokens: 600, rows, cols }, o);
    const label = JSON.stringify(spec);
    assert.equal(dev.sweeps, 12, label);
    assert.deepEqual(dev.relaxed, host.relaxed, `${label}: the same relaxed sweeps`);
    for (let k = 0; k < 12; k++)
      assert.ok(Math.abs(dev.objectives[k] - host.objectives[k]) <= 0.02 * host.objectives[k], `${label}: sweep ${k}: objective ${dev.objectives[k]} on the GPU, ${host.objectives[k]} on the host`);
    // The device's own sum for the last sweep against the objective of the codes it returned.
    const decoded = dequantizeGroupGrid(dev.grid);
    const direct = relErr(w, decoded, h, rows, cols);
    assert.ok(Math.abs(dev.objectives[11] - direct) <= 1e-3 * direct, `${label}: reported ${dev.objectives[11]}, computed from the codes ${direct}`);
    assert.ok(direct < 0.8 * relErr(w, dequantizeGroupGrid(quantizeRtn(w, rows, cols, { bits: spec.bits, groupSize: spec.groupSize, symmetric: spec.symmetric })), h, rows, cols), `${label}: better than RTN`);
    let same = 0;
    for (let i = 0; i < host.grid.codes.length; i++) same += host.grid.codes[i] === dev.grid.codes[i] ? 1 : 0;
    assert.ok(same / host.grid.codes.length > 0.9, `${label}: ${((100 * same) / host.grid.codes.length).toFixed(1)}% of codes equal`);
    assert.deepEqual(dev.grid.groupIndex, host.grid.groupIndex, `${label}: the same g_idx`);
    assert.ok(relDiff(await gpu.read(dev.dequantized), decoded) < 1e-6, `${label}: dequantized tensor = decoded codes`);
  }
});

test('RTN on the GPU rounds as the host does (the sweep without feedback)', async () => {
  const [rows, cols] = [50, 333];
  const w = randn(rows * cols, 21, 0.05);
  for (const spec of [{ bits: 4, groupSize: 128, symmetric: false }, { bits: 2, groupSize: 32, symmetric: true }]) {
    const want = dequantizeGroupGrid(quantizeRtn(w, rows, cols, spec));
    const got = await gpu.read(rtnOnDevice(solvers, gpu.upload(w, [rows, cols]), spec));
    let same = 0;
    for (let i = 0; i < want.length; i++) same += want[i] === got[i] ? 1 : 0;
    assert.ok(same / want.length > 0.999, `${JSON.stringify(spec)}: ${same} of ${want.length} values equal`);
  }
});

/** Statistics of a layer with quantized activations: X [n, d] with uneven column scales, X~ its 4-bit per-token fake quantization. */
function actStats(n: number, d: number, seed: number): { sxx: Float64Array; qq: Float64Array; xq: Float64Array } {
  const x = randn(n * d, seed);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] *= 1 + (j % 5);
  const cpu = new CpuBackend();
  const xq = cpu.actQuant(cpu.upload(x, [n, d]), { bits: 4, symmetric: true, clipRatio: 1 }) as unknown as { data: Float32Array };
  const q = xq.data;
  const sum = (a: Float32Array, b: Float32Array) => {
    const s = new Float64Array(d * d);
    for (let i = 0; i < n; i++) for (let r = 0; r < d; r++) { const ar = a[i * d + r]; for (let c = 0; c < d; c++) s[r * d + c] += ar * b[i * d + c]; }
    return s;
  };
  return { sxx: sum(x, x), qq: sum(q, q), xq: sum(x, q) };
}

test('the truncated SVD on the GPU finds the host\'s singular values and subspaces (randomized subspace iteration, Cholesky QR on the device)', async () => {
  const [rows, cols, k] = [150, 90, 6];
  // A decaying spectrum: rank-20 signal plus noise.
  const a = randn(rows * 20, 41), b = randn(20 * cols, 42), m = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    let sum = 0;
    for (let t = 0; t < 20; t++) sum += a[i * 20 + t] * b[t * cols + j] * 0.7 ** t;
    m[i * cols + j] = sum + 0.01 * Math.sin(i * 7 + j * 3);
  }
  const host = truncatedSvd(m, rows, cols, k, { powerIterations: 8 });
  const dev = await truncatedSvdOnDevice(solvers, gpu.upload(Float32Array.from(m), [rows, cols]), rows, cols, k, { powerIterations: 8 });
  assert.equal(dev.k, k);
  for (let j = 0; j < k; j++) assert.ok(Math.abs(dev.s[j] / host.s[j] - 1) < 1e-4, `s${j}: ${dev.s[j]} vs ${host.s[j]}`);
  // U S V^T agree (the product does not depend on the singular vectors' signs).
  const product = (u: ArrayLike<number>, s: ArrayLike<number>, v: ArrayLike<number>) => {
    const out = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) { let x = 0; for (let t = 0; t < k; t++) x += u[i * k + t] * s[t] * v[j * k + t]; out[i * cols + j] = x; }
    return out;
  };
  const p = product(await gpu.read(dev.u), dev.s, await gpu.read(dev.v));
  assert.ok(relDiff(p, product(host.u, host.s, host.v)) < 1e-4, `rank-${k} products: ${relDiff(p, product(host.u, host.s, host.v))}`);
});

test('LRC on the GPU matches the host\'s LRC (errors per iteration within 3%), and W4A4 GPTQ (rank 0) too', async () => {
  const [rows, cols, tokens] = [40, 96, 500];
  const { sxx, qq, xq } = actStats(tokens, cols, 43);
  const w = randn(rows * cols, 44, 0.05);
  const stats = { hessian: sxx, tokens, quantizedInput: { qq, xq } };
  const up = (a: Float64Array) => gpu.upload(Float32Array.from(a), [cols, cols]);
  const layer = { solvers, weight: gpu.upload(w, [rows, cols]), hessian: up(sxx), tokens, rows, cols, quantizedInput: { qq: up(qq), xq: up(xq) } };
  for (const rankFraction of [0.1, 0]) {
    const o = { bits: 4, groupSize: 0, symmetric: true, damp: 0.01, actOrder: false, blockSize: 128, rankFraction, iterations: 3 };
    const host = lrcQuantize(w, rows, cols, stats, o);
    const dev = await lrcOnDevice(layer, o);
    assert.equal(dev.rank, host.rank);
    assert.equal(dev.errors.length, host.errors.length);
    dev.errors.forEach((e, i) => assert.ok(Math.abs(e / host.errors[i] - 1) < 0.03, `rank ${host.rank}, iteration ${i}: error ${e} on the GPU, ${host.errors[i]} on the host`));
    // The reported errors are the layer's: recomputed on the host from what the GPU made.
    const low = dev.u && dev.v ? lowRankProduct(dev.u, dev.v, rows, cols, dev.rank) : null;
    const recomputed = layerRelativeError(w, dequantizeGroupGrid(dev.grid), low, rows, cols, stats);
    assert.ok(Math.abs(dev.errors.at(-1)! / recomputed - 1) < 1e-3, `reported ${dev.errors.at(-1)} vs ${recomputed}`);
    if (rankFraction > 0) {
      const rank0 = (await lrcOnDevice(layer, { ...o, rankFraction: 0 })).errors[0];
      assert.ok(dev.errors.at(-1)! < 0.95 * rank0, `the low-rank term lowers the error: ${dev.errors.at(-1)} vs ${rank0} at rank 0`);
    }
    gpu.free(dev.dequantized);
  }
});
