/**
 * AdpQ against the spec's checks: alpha = 0 is RTN; the salient set has round(alpha * size)
 * members, the largest |w|; the non-salient weights are never rounded worse than by RTN; the saved
 * tensors decode to the evaluated weights; bits are counted as specified. And on kdoc-6m, 3-bit
 * AdpQ beats 3-bit RTN in perplexity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { adpqQuantize, adpqWeight, dequantizeAdpq, positionBits, ADPQ_FORMAT, type AdpqOptions } from '../src/quant/methods/adpq.js';
import { topKByMagnitude } from '../src/quant/select.js';
import { quantizeRtn, dequantizeGroupGrid } from '../src/quant/group-grid.js';
import { totalBits } from '../src/quant/types.js';
import { openModelDir } from '../src/export/reader.js';
import { ASSETS, randn, runCli, tmpDir } from './helpers.js';

const opts = (o: Partial<AdpqOptions> = {}): AdpqOptions => ({ bits: 3, groupSize: 64, symmetric: false, outlierRatio: 0.05, gamma: 1, outlierBits: 3, ...o });

/** Heavy-tailed test weights: Gaussian with 2% of entries 6x larger. */
function heavyTailed(n: number, seed: number): Float32Array {
  const w = randn(n, seed, 0.02), pick = randn(n, seed + 1);
  for (let i = 0; i < n; i++) if (pick[i] > 2.05) w[i] *= 6;
  return w;
}

test('top-k by magnitude: exactly k members, ties broken by position', () => {
  const w = new Float32Array([0.5, -3, 2, -2, 2, 0.1, 3]);
  const mask = new Uint8Array(7);
  assert.equal(topKByMagnitude(w, 3, mask), 2);
  assert.deepEqual([...mask], [0, 1, 1, 0, 0, 0, 1]); // |-3|, |3|, then the first of the three 2s
  assert.equal(topKByMagnitude(w, 0, mask), Infinity);
  assert.deepEqual([...mask], [0, 0, 0, 0, 0, 0, 0]);
});

test('alpha = 0 is exactly RTN', () => {
  for (const symmetric of [false, true]) {
    const w = heavyTailed(32 * 200, 1);
    const l = adpqQuantize(w, 32, 200, opts({ outlierRatio: 0, symmetric }));
    const rtn = quantizeRtn(w, 32, 200, opts({ symmetric }));
    assert.deepEqual([...l.grid.codes], [...rtn.codes]);
    assert.deepEqual([...dequantizeAdpq(l)], [...dequantizeGroupGrid(rtn)]);
    assert.equal(l.salientCount, 0);
    assert.equal(totalBits(adpqWeight(l, opts({ outlierRatio: 0, symmetric })).bits), 32 * 200 * 3 + 32 * 4 * (16 + (symmetric ? 0 : 3)));
  }
});

test('the salient set has round(alpha * size) members and they are the largest |w|', () => {
  const rows = 40, cols = 130, w = heavyTailed(rows * cols, 2);
  for (const alpha of [0.001, 0.01, 0.07]) {
    const l = adpqQuantize(w, rows, cols, opts({ outlierRatio: alpha }));
    let n = 0, minIn = Infinity, maxOut = 0;
    for (let i = 0; i < w.length; i++) {
      if (l.salient[i]) { n++; minIn = Math.min(minIn, Math.abs(w[i])); } else maxOut = Math.max(maxOut, Math.abs(w[i]));
    }
    assert.equal(n, Math.round(alpha * rows * cols));
    assert.ok(minIn >= maxOut);
    assert.equal(l.threshold, minIn);
    assert.ok(Math.abs(l.lambda - minIn ** 2) < 1e-12); // gamma = 1: lambda = t^(1+gamma)
  }
});

test('non-salient weights are never rounded worse than by RTN, group by group (random and kdoc-6m layers)', () => {
  const cases: [Float32Array, number, number][] = [[heavyTailed(64 * 256, 3), 64, 256]];
  const m = openModelDir(ASSETS.model);
  for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.3.mlp.down_proj.weight']) {
    const [rows, cols] = m.source.shape(name);
    cases.push([m.source.readF32(name), rows, cols]);
  }
  m.close();
  for (const [w, rows, cols] of cases) {
    for (const o of [opts(), opts({ bits: 4, groupSize: 128 }), opts({ groupSize: 0 }), opts({ symmetric: true })]) {
      const l = adpqQuantize(w, rows, cols, o);
      const qa = dequantizeAdpq(l), qr = dequantizeGroupGrid(quantizeRtn(w, rows, cols, o));
      const gs = l.grid.groupSize;
      for (let r = 0; r < rows; r++) {
        for (let c0 = 0; c0 < cols; c0 += gs) {
          let ea = 0, er = 0;
          for (let c = c0; c < Math.min(cols, c0 + gs); c++) {
            const i = r * cols + c;
            if (l.salient[i]) continue;
            ea += (qa[i] - w[i]) ** 2;
            er += (qr[i] - w[i]) ** 2;
          }
          assert.ok(ea <= er, `row ${r} group at ${c0}: AdpQ ${ea} > RTN ${er}`);
        }
      }
    }
  }
});

test('saved tensors decode to the evaluated weights (own-grid and f16 outliers, asym and sym)', () => {
  const w = heavyTailed(24 * 100, 4);
  for (const o of [opts(), opts({ symmetric: true }), opts({ outlierBits: 16 }), opts({ groupSize: 0 })]) {
    const q = adpqWeight(adpqQuantize(w, 24, 100, o), o);
    assert.deepEqual([...ADPQ_FORMAT.decode(q.tensors, q.params, 24, 100)], [...q.dequantize()]);
  }
});

test('bits: codes, both grids per group, positions (min of bitmask and indices)', () => {
  // 2 rows x 64 cols, groups of 32: 4 groups. Salient: 3 entries, all in the first group.
  const w = new Float32Array(128).map((_, i) => ((i * 37) % 11) / 100 - 0.05);
  w[1] = 1; w[5] = -1; w[9] = 0.9;
  const o = opts({ groupSize: 32, outlierRatio: 3 / 128 });
  const q = adpqWeight(adpqQuantize(w, 2, 64, o), o);
  assert.equal(q.bits.codes, 128 * 3);
  assert.equal(q.bits.scales, 4 * 16 + 1 * 16);
  assert.equal(q.bits.zeros, 4 * 3 + 1 * 3);
  // indices: 3 x 5 bits + 4 groups x 6-bit counts = 39 < 128-bit mask
  assert.equal(q.bits.outliers, 39);
  assert.equal(positionBits(2, 64, 32, 3), 39);
  assert.equal(positionBits(2, 64, 32, 40), 128); // the bitmask wins when many are salient
});

test('kdoc-6m: 3-bit AdpQ beats 3-bit RTN at group 128 (perplexity, first 40 windows)', () => {
  const dir = tmpDir();
  const ppl = (method: string) => {
    const out = path.join(dir, method);
    const q = runCli(['quantize', ASSETS.model, '--method', method, '--bits', '3', '--group-size', '128', '--out', out]);
    assert.equal(q.code, 0, q.stderr);
    const e = runCli(['eval', out, '--data', ASSETS.heldout, '--max-windows', '40', '--json']);
    assert.equal(e.code, 0, e.stderr);
    return JSON.parse(e.stdout).ppl as number;
  };
  const rtn = ppl('rtn'), adpq = ppl('adpq');
  assert.ok(adpq < 0.95 * rtn, `AdpQ ${adpq} vs RTN ${rtn}`);
});
