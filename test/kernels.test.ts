/**
 * Native kernels against independent references: the plain TypeScript GEMM (itself checked on a
 * hand-computed product), closed-form Cholesky factors, and the TypeScript attention/NLL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../src/native/index.js';
import { gemmReference, sgemm, dgemm } from '../src/linalg/gemm.js';
import { choleskyLower, invertLower } from '../src/linalg/cholesky.js';
import { actQuantTs, attentionTs, nllTs, routeTopKTs, siluMulTs } from '../src/backend/cpu/ts-kernels.js';
import { randn, relDiff } from './helpers.js';
import { dequantizeGroupGrid, emptyGroupGrid, quantizeRtn, quantizeRtnTs } from '../src/quant/group-grid.js';
import { topKByMagnitude, topKByMagnitudeTs } from '../src/quant/select.js';
import { adpqGroupsTs, adpqQuantize, dequantizeAdpq, dequantizeAdpqTs, positionLists, positionListsTs } from '../src/quant/methods/adpq.js';
import { bf16ToF32Ts } from '../src/io/float.js';
import { squaredErrorSumsTs } from '../src/pipeline/data-free-job.js';
import { maxByte, packBits, packBitsTs } from '../src/io/bitpack.js';
import { quantizeBlocks } from '../src/quant/ggml/block-type.js';
import { BLOCK_TYPES } from '../src/quant/ggml/registry.js';

test('the native addon is built (npm install compiles it)', () => {
  assert.ok(native, 'build/Release/lowbit_native.node missing: run npm install');
});

test('reference GEMM reproduces a hand-computed product', () => {
  // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]
  const c = new Float64Array(4);
  gemmReference({ m: 2, n: 2, k: 2 }, { data: new Float64Array([1, 2, 3, 4]) }, { data: new Float64Array([5, 6, 7, 8]) }, { data: c });
  assert.deepEqual([...c], [19, 22, 43, 50]);
  // with transA: [1 3; 2 4] * [5 6; 7 8] = [26 30; 38 44]
  gemmReference({ m: 2, n: 2, k: 2, transA: true }, { data: new Float64Array([1, 2, 3, 4]) }, { data: new Float64Array([5, 6, 7, 8]) }, { data: c });
  assert.deepEqual([...c], [26, 30, 38, 44]);
});

test('native sgemm/dgemm equal the reference for every transpose, odd sizes, strides, alpha/beta', () => {
  let seed = 10;
  for (const [m, n, k] of [[1, 1, 1], [7, 19, 33], [130, 70, 300], [6, 16, 256], [257, 3, 513]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const pad = 3; // leading dimensions larger than the view
        const lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad;
        const a = randn((transA ? k : m) * lda + 5, seed++), b = randn((transB ? n : k) * ldb + 5, seed++);
        const c0 = randn(m * ldc + 5, seed++);
        const shape = { m, n, k, transA, transB, alpha: 0.75, beta: -0.5 };
        const want = Float64Array.from(c0);
        gemmReference(shape, { data: Float64Array.from(a), offset: 2, ld: lda }, { data: Float64Array.from(b), offset: 1, ld: ldb }, { data: want, offset: 4, ld: ldc });
        const got = c0.slice();
        sgemm(shape, { data: a, offset: 2, ld: lda }, { data: b, offset: 1, ld: ldb }, { data: got, offset: 4, ld: ldc });
        assert.ok(relDiff(got, want) < 1e-5, `sgemm ${m}x${n}x${k} tA=${transA} tB=${transB}: ${relDiff(got, want)}`);
        const got64 = Float64Array.from(c0);
        dgemm(shape, { data: Float64Array.from(a), offset: 2, ld: lda }, { data: Float64Array.from(b), offset: 1, ld: ldb }, { data: got64, offset: 4, ld: ldc });
        assert.ok(relDiff(got64, want) < 1e-13, `dgemm ${m}x${n}x${k}: ${relDiff(got64, want)}`);
      }
    }
  }
});

test('native gemm rejects views that overrun their arrays', { skip: !native }, () => {
  const a = new Float32Array(10);
  assert.throws(() => native!.sgemm(false, false, 4, 4, 4, 1, a, 0, 4, a, 0, 4, 0, a, 0, 4), /too short/);
});

test('Cholesky of a hand-factored matrix and of large SPD matrices', () => {
  // [4 2; 2 5] = L L^T with L = [2 0; 1 2]
  const a = new Float64Array([4, 2, 2, 5]);
  assert.equal(choleskyLower(a, 2), 0);
  assert.deepEqual([...a], [2, 0, 1, 2]);
  // Not positive definite: [1 2; 2 1] fails at column 1.
  assert.equal(choleskyLower(new Float64Array([1, 2, 2, 1]), 2), 2);
  for (const n of [5, 97, 300]) {
    const x = randn(n * (n + 10), n);
    const h = new Float64Array(n * n);
    dgemm({ m: n, n, k: n + 10, transB: true }, { data: Float64Array.from(x) }, { data: Float64Array.from(x) }, { data: h });
    const l = h.slice();
    assert.equal(choleskyLower(l, n), 0);
    const back = new Float64Array(n * n);
    dgemm({ m: n, n, k: n, transB: true }, { data: l }, { data: l }, { data: back });
    assert.ok(relDiff(back, h) < 1e-12, `L L^T != H for n=${n}`);
    const inv = l.slice();
    invertLower(inv, n);
    const eye = new Float64Array(n * n);
    dgemm({ m: n, n, k: n }, { data: l }, { data: inv }, { data: eye });
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(eye[i * n + j] - (i === j ? 1 : 0)) < 1e-9, `L L^-1 != I at ${i},${j}`);
  }
});

test('native attention equals the TypeScript reference (GQA, several windows, sliding window)', { skip: !native }, () => {
  for (const [batch, T, heads, kv, hd, window] of [[1, 5, 2, 1, 4, 0], [2, 130, 4, 2, 8, 0], [1, 100, 4, 4, 16, 17]]) {
    const q = randn(batch * T * heads * hd, 1), k = randn(batch * T * kv * hd, 2), v = randn(batch * T * kv * hd, 3);
    const want = attentionTs(q, k, v, { batch, seqLen: T, heads, kvHeads: kv, headDim: hd, window });
    const got = new Float32Array(want.length);
    native!.attention(q, k, v, got, batch, T, heads, kv, hd, 1 / Math.sqrt(hd), window);
    assert.ok(relDiff(got, want) < 1e-5, `attention ${T}: ${relDiff(got, want)}`);
  }
});

test('attention of the first token returns its own value vector', () => {
  const q = randn(8, 4), k = randn(8, 5), v = randn(8, 6);
  const out = attentionTs(q, k, v, { batch: 1, seqLen: 1, heads: 2, kvHeads: 2, headDim: 4 });
  assert.deepEqual([...out], [...v]);
});

test('NLL: uniform logits give log(vocab); native equals reference', () => {
  const uniform = nllTs(new Float32Array(2 * 8), 8, new Int32Array([3, 5]));
  for (const x of uniform) assert.ok(Math.abs(x - Math.log(8)) < 1e-6);
  if (!native) return;
  const logits = randn(33 * 1000, 9, 3);
  const targets = Int32Array.from({ length: 33 }, (_, i) => (i * 37) % 1000);
  const got = new Float32Array(33);
  native.nllRows(logits, 33, 1000, targets, got);
  assert.ok(relDiff(got, nllTs(logits, 1000, targets)) < 1e-5);
  assert.throws(() => native!.nllRows(logits, 33, 1000, new Int32Array(33).fill(1000), got), /out of range/);
});

test('top-k routing by hand: softmax proportional to 1:2:3:4 keeps experts 3 and 2 at 4/7 and 3/7; ties go to the lower index', () => {
  const r = routeTopKTs(Float32Array.from([0, Math.log(2), Math.log(3), Math.log(4), 1, 1, 1, 0]), 2, 4, 2);
  const want = [0, 0, 3 / 7, 4 / 7, 0.5, 0.5, 0, 0];
  r.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-7, `${i}: ${v} vs ${want[i]}`));
});

test('SiLU gating: closed form at 0 and native equals reference', () => {
  assert.deepEqual([...siluMulTs(new Float32Array([0, 0]), new Float32Array([1, 2]))], [0, 0]);
  if (!native) return;
  const g = randn(1000, 1, 4), u = randn(1000, 2);
  const got = new Float32Array(1000);
  native.siluMul(g, u, got, 1000);
  assert.ok(relDiff(got, siluMulTs(g, u)) < 1e-6);
});

test('native activation quantization equals the TypeScript reference (sym/asym, 4 and 8 bits, zero rows)', { skip: !native }, () => {
  const x = randn(37 * 64, 12, 2);
  x.fill(0, 5 * 64, 6 * 64);
  for (const spec of [{ bits: 4, clipRatio: 0.9, symmetric: true }, { bits: 8, clipRatio: 1, symmetric: false }, { bits: 4, clipRatio: 0.8, symmetric: false }]) {
    const got = new Float32Array(x.length);
    native!.actQuant(x, got, 37, 64, spec.bits, spec.clipRatio, spec.symmetric);
    assert.ok(relDiff(got, actQuantTs(x, 64, spec)) < 1e-6, JSON.stringify(spec));
  }
});

test('native round-to-nearest equals the TypeScript definition bit for bit (ties, every width, ragged and per-channel groups)', { skip: !native }, () => {
  const r = (seed: number) => { let x = seed; return () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32); };
  let ties = 0;
  for (const [rows, cols, groupSize] of [[3, 128, 32], [7, 100, 32], [5, 257, 128], [4, 64, 0], [2, 1, 1]] as const)
    for (const bits of [2, 3, 4, 5, 8])
      for (const symmetric of [false, true]) {
        const rnd = r(rows * 1000 + cols + bits);
        const w = randn(rows * cols, rows + cols + bits, 0.02);
        // bf16-rounded values, exact multiples of a small step (many exact ties x/s = k + 1/2), zeros and constant groups
        for (let i = 0; i < w.length; i++) {
          const u = rnd();
          if (u < 0.2) w[i] = Math.round(w[i] * 4096) / 4096;
          else if (u < 0.25) w[i] = 0;
          else w[i] = Math.fround(new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([w[i]]).buffer)[0] & 0xffff0000]).buffer)[0]);
        }
        if (cols >= 64) w.fill(0.01, 0, 32); // a constant group
        // A group of exact ties: with 4-bit symmetric grids its scale is 1/16 and every (k + 1/2)/16 sits between two codes.
        if (cols >= 64 && rows > 1) for (let j = 0; j < 32; j++) w[cols + j] = j === 0 ? 7 / 16 : (((j % 14) - 7) + 0.5) / 16;
        const spec = { bits, groupSize, symmetric };
        const a = quantizeRtn(w, rows, cols, spec), b = quantizeRtnTs(w, rows, cols, spec);
        const where = `${rows}x${cols} g${groupSize} ${bits}-bit ${symmetric ? 'sym' : 'asym'}`;
        assert.deepEqual(a.codes, b.codes, where);
        assert.deepEqual(a.scales, b.scales, where);
        assert.deepEqual(a.zeros, b.zeros, where);
        if (cols >= 64 && rows > 1 && bits === 4 && symmetric) {
          ties += [...w.subarray(cols, cols + 32)].filter((x) => Math.abs(x / b.scales[Math.ceil(cols / (groupSize || cols))] % 1) === 0.5).length;
        }
      }
  assert.ok(ties > 0, 'the exact-tie group was exercised');
});

test('native bf16 decoding, NaN/Inf scan, group-grid dequantization and error sums equal their TypeScript twins', { skip: !native }, () => {
  const n = 70001;
  const bf = new Uint16Array(n);
  for (let i = 0; i < n; i++) bf[i] = ((i * 2654435761) >>> 16) & 0xbfff; // exponents below all-ones: finite
  bf[5] = 0x7f80; // +Inf and a NaN among ordinary values
  bf[n - 3] = 0x7fc1;
  const a = new Float32Array(n), b = new Float32Array(n);
  native!.bf16ToF32(bf, a, n);
  bf16ToF32Ts(bf, b);
  assert.deepEqual(new Uint32Array(a.buffer), new Uint32Array(b.buffer));
  assert.equal(native!.firstNonFinite(a, n), a.findIndex((x) => !Number.isFinite(x)));
  assert.equal(native!.firstNonFinite(a.subarray(6), n - 6), n - 3 - 6);
  assert.equal(native!.firstNonFinite(new Float32Array(5000), 5000), -1);
  for (const [rows, cols, groupSize] of [[3, 100, 32], [4, 128, 0], [2, 1, 1]] as const) {
    const w = randn(rows * cols, rows + cols, 0.05);
    const grid = quantizeRtnTs(w, rows, cols, { bits: 3, groupSize, symmetric: false });
    const viaNative = dequantizeGroupGrid(grid);
    const ts = new Float32Array(rows * cols);
    const groups = Math.ceil(cols / grid.groupSize);
    for (let i = 0; i < rows * cols; i++) {
      const g = Math.floor(i / cols) * groups + Math.floor((i % cols) / grid.groupSize);
      ts[i] = grid.scales[g] * (grid.codes[i] - grid.zeros[g]);
    }
    assert.deepEqual(viaNative, ts, `${rows}x${cols}`);
    assert.deepEqual(native!.squaredErrorSums(w, viaNative, w.length), squaredErrorSumsTs(w, viaNative));
  }
});

test('native AdpQ dequantization and salient position lists equal their TypeScript twins', { skip: !native }, () => {
  for (const [rows, cols, groupSize] of [[48, 1024, 128], [5, 100, 32], [4, 257, 128]] as const) {
    const w = randn(rows * cols, rows + 3 * cols, 0.02);
    for (let i = 0; i < w.length; i += 61) w[i] *= 9;
    for (const symmetric of [false, true]) {
      const l = adpqQuantize(w, rows, cols, { bits: 3, groupSize, symmetric, outlierRatio: 0.05, gamma: 1, outlierBits: 3 });
      const where = `${rows}x${cols} g${groupSize} ${symmetric ? 'sym' : 'asym'}`;
      assert.deepEqual(dequantizeAdpq(l), dequantizeAdpqTs(l), where);
      assert.deepEqual(positionLists(l.salient, rows, cols, l.grid.groupSize, l.salientCount), positionListsTs(l.salient, rows, cols, l.grid.groupSize, l.salientCount), where);
      assert.throws(() => positionLists(l.salient, rows, cols, l.grid.groupSize, l.salientCount - 1), /salientCount/);
    }
  }
});

test('native Q4_K and Q6_K quantizers write the TypeScript ports\' bytes (zero, tiny, constant and outlier blocks)', { skip: !native }, () => {
  const blocks = 96, n = 256 * blocks;
  const x = randn(n, 4242, 0.02);
  for (let i = 0; i < n; i += 37) x[i] *= 20; // outliers
  x.fill(0, 256, 512); // an all-zero block
  for (let i = 512; i < 768; i++) x[i] = 1e-9 * Math.sin(i); // below f16's range once scaled
  x.fill(0.25, 768, 1024); // constant, positive: min clamps to 0
  for (let i = 1024; i < 1280; i++) x[i] = -Math.abs(x[i]); // all negative
  for (const type of ['Q4_K', 'Q6_K']) {
    const t = BLOCK_TYPES[type];
    const viaNative = new Uint8Array(blocks * t.blockBytes), viaTs = new Uint8Array(blocks * t.blockBytes);
    assert.equal(native!.ggmlQuantize(t.id, x, n, viaNative, t.blockBytes), true, type);
    quantizeBlocks(t, x, 0, n, viaTs, 0);
    assert.deepEqual(viaNative, viaTs, type);
  }
  assert.equal(native!.ggmlQuantize(BLOCK_TYPES.Q5_K.id, x, n, new Uint8Array(blocks * 176), 176), false, 'no native Q5_K');
});

test('native bit-packing and byte maximum equal their TypeScript twins (every width, lengths that end mid-byte)', { skip: !native }, () => {
  for (const width of [1, 2, 3, 4, 5, 6, 7, 8])
    for (const n of [4096, 4099, 70001]) {
      const v = new Uint8Array(n);
      for (let i = 0; i < n; i++) v[i] = ((i * 2654435761) >>> 13) & ((1 << width) - 1);
      assert.deepEqual(packBits(v, width), packBitsTs(v, width), `width ${width}, ${n} values`);
      let max = 0;
      for (const x of v) max = Math.max(max, x);
      assert.equal(maxByte(v), max);
    }
  assert.equal(maxByte(new Uint8Array(5000)), 0);
});

test('native AdpQ (top-k selection with ties, bulk and salient grids, f16 salient mode) equals the TypeScript definition', { skip: !native }, () => {
  for (const [rows, cols, groupSize] of [[6, 128, 32], [5, 100, 32], [4, 257, 128], [3, 64, 0]] as const) {
    const w = randn(rows * cols, rows * 7 + cols, 0.02);
    for (let i = 0; i < w.length; i += 9) w[i] = Math.round(w[i] * 64) / 64; // repeated magnitudes: ties at the threshold
    for (let i = 0; i < w.length; i += 97) w[i] *= 12; // outliers
    for (const k of [1, Math.round(0.05 * w.length), w.length - 1]) {
      const a = new Uint8Array(w.length), b = new Uint8Array(w.length);
      assert.equal(topKByMagnitude(w, k, a), topKByMagnitudeTs(w, k, b), `threshold ${rows}x${cols} k=${k}`);
      assert.deepEqual(a, b, `mask ${rows}x${cols} k=${k}`);
    }
    for (const bits of [3, 4])
      for (const symmetric of [false, true])
        for (const outlierBits of [bits, 16]) {
          const o = { bits, groupSize, symmetric, outlierRatio: 0.05, gamma: 1, outlierBits };
          const mask = new Uint8Array(w.length);
          topKByMagnitudeTs(w, Math.round(0.05 * w.length), mask);
          const nat = emptyGroupGrid(rows, cols, o), ts = emptyGroupGrid(rows, cols, o);
          const groups = Math.ceil(cols / nat.groupSize);
          const ns = [new Float32Array(rows * groups), new Uint8Array(rows * groups)] as const, tss = [new Float32Array(rows * groups), new Uint8Array(rows * groups)] as const;
          native!.adpqGroups(w, mask, rows, cols, nat.groupSize, bits, symmetric, outlierBits >= 16, nat.codes, nat.scales, nat.zeros, ns[0], ns[1]);
          adpqGroupsTs(w, mask, ts, o, outlierBits >= 16, tss[0], tss[1]);
          const where = `${rows}x${cols} g${groupSize} ${bits}-bit ${symmetric ? 'sym' : 'asym'} outliers ${outlierBits}`;
          assert.deepEqual([nat.codes, nat.scales, nat.zeros, ns[0], ns[1]], [ts.codes, ts.scales, ts.zeros, tss[0], tss[1]], where);
        }
  }
});
