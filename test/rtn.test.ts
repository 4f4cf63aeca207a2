/** Uniform grids and RTN against hand-computed cases and their defining properties. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitGrid, encode, roundToGrid } from '../src/quant/grid.js';
import { quantizeRtn, dequantizeGroupGrid, groupGridBits, groupGridWeight, GROUP_GRID_FORMAT } from '../src/quant/group-grid.js';
import { totalBits } from '../src/quant/types.js';
import { randn } from './helpers.js';

test('asymmetric grid: hand-computed scale, zero and codes', () => {
  // values in [-1, 2] at 2 bits: s = 3/3 = 1, z = 1; -1 -> 0, 0.4 -> 1, 1.6 -> 3, 2 -> 3
  const g = fitGrid(-1, 2, { bits: 2, symmetric: false });
  assert.deepEqual(g, { scale: 1, zero: 1 });
  assert.deepEqual([-1, 0.4, 1.6, 2, 5].map((x) => encode(x, g, 3)), [0, 1, 3, 3, 3]);
  // all-positive values: the range is widened to include 0, so z = 0 and 0 is exact
  const p = fitGrid(0.5, 1.5, { bits: 3, symmetric: false });
  assert.equal(p.zero, 0);
  assert.equal(roundToGrid(0, p, 7), 0);
  assert.ok(Math.abs(p.scale - 1.5 / 7) < 1e-3); // f16-rounded
});

test('symmetric grid: absmax on a level, levels -2^(b-1)..2^(b-1)-1', () => {
  const g = fitGrid(-0.5, 1.75, { bits: 4, symmetric: true });
  assert.equal(g.zero, 8);
  assert.equal(g.scale, 0.25); // 1.75 / 7
  assert.equal(roundToGrid(1.75, g, 15), 1.75);
  assert.equal(roundToGrid(-1.75, g, 15), -1.75);
  assert.equal(roundToGrid(-3, g, 15), -2); // clamps at -8 levels
});

test('RTN: every weight within half a step of its group grid, last group shorter', () => {
  const rows = 5, cols = 300, gs = 128; // groups of 128, 128, 44
  const w = randn(rows * cols, 3);
  const grid = quantizeRtn(w, rows, cols, { bits: 3, groupSize: gs, symmetric: false });
  assert.equal(grid.scales.length, rows * 3);
  const q = dequantizeGroupGrid(grid);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = Math.floor(c / gs), s = grid.scales[r * 3 + g];
      assert.ok(Math.abs(q[r * cols + c] - w[r * cols + c]) <= s / 2 + 1e-6, `(${r},${c})`);
    }
    // the group's min and max are (nearly) representable: the extremes land on the end codes
    for (let g = 0; g < 3; g++) {
      const seg = Array.from(grid.codes.subarray(r * cols + g * gs, r * cols + Math.min(cols, (g + 1) * gs)));
      assert.ok(seg.includes(0) || seg.includes(7));
    }
  }
  // bits: 3 per code + (16-bit scale + 3-bit zero) per group
  assert.equal(totalBits(groupGridBits(grid)), rows * cols * 3 + rows * 3 * (16 + 3));
});

test('per-channel (group size 0) uses one grid per row; more bits never hurt', () => {
  const rows = 8, cols = 64;
  const w = randn(rows * cols, 4);
  const err = (bits: number) => {
    const q = dequantizeGroupGrid(quantizeRtn(w, rows, cols, { bits, groupSize: 0, symmetric: false }));
    return q.reduce((s, x, i) => s + (x - w[i]) ** 2, 0);
  };
  assert.equal(quantizeRtn(w, rows, cols, { bits: 4, groupSize: 0, symmetric: false }).scales.length, rows);
  let prev = Infinity;
  for (const b of [2, 3, 4, 6, 8]) {
    const e = err(b);
    assert.ok(e < prev, `${b} bits: ${e} >= ${prev}`);
    prev = e;
  }
});

test('saved tensors decode to the same weight (asymmetric and symmetric)', () => {
  for (const symmetric of [false, true]) {
    const w = randn(6 * 40, 5);
    const q = groupGridWeight(quantizeRtn(w, 6, 40, { bits: 4, groupSize: 16, symmetric }));
    assert.equal('zeros' in q.tensors, !symmetric);
    assert.deepEqual([...GROUP_GRID_FORMAT.decode(q.tensors, q.params, 6, 40)], [...q.dequantize()]);
  }
});
