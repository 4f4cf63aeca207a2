/**
 * Activation-quantized linears on the GPU: integer products (Backend.integerLinear: per-token
 * int8 codes times the weight's per-channel codes, exact in i32 on the int8 tensor cores) against
 * fake quantization in f32 (actQuant, then linear on the dequantized weight), as issue 11 asks:
 *   - one linear at 4096 tokens for Llama-2-7B's three shapes, W4A4 and W8A8: ms, effective
 *     TOPS (2 m n k over the time), the speed-up over fake quantization with the f32 kernel and
 *     with f32 products by int8 slices (the GPU's default), and the largest relative difference
 *     of the results (the integer path is exact up to its final scaling: ~1e-7);
 *   - one decoder block of a Llama-2-7B-shaped checkpoint at 2 x 2048 tokens with W4A4 linears
 *     (RTN per channel, symmetric; 4-bit symmetric activations), both ways: tokens/s.
 *   npm run bench -- integer [--model-dir=DIR]   (needs an adapter; the tensor cores where it offers them)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackend, type Backend, type Tensor } from '../src/backend/index.js';
import type { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.js';
import type { RowGridWeight } from '../src/io/tensor-source.js';
import type { ActQuantSpec } from '../src/backend/backend.js';
import { architectureOf } from '../src/arch/architecture.js';
import { IntegerActLinear, QuantizedActLinear, linearTensors } from '../src/arch/layers.js';
import { openModelDir } from '../src/export/reader.js';
import { quantizeRtn, rowGridOf, dequantizeGroupGrid } from '../src/quant/group-grid.js';
import { writeSyntheticLlama } from '../scripts/make-synthetic-llama.js';
import type { MachineLimits } from './machine.js';
import { benchArg } from './args.js';
import { timed } from './gpu.js';

const TOKENS = 4096;

function randomGrid(rows: number, cols: number, bits: number, seed: number): { grid: RowGridWeight; dense: Float32Array } {
  let s = seed >>> 0 || 1;
  const next = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return (s >>> 0) / 2 ** 32; };
  const maxq = 2 ** bits - 1;
  const codes = Uint8Array.from({ length: rows * cols }, () => Math.floor(next() * (maxq + 1)));
  const scales = Float32Array.from({ length: rows }, () => (0.002 + 0.01 * next()) * 16 / 2 ** bits);
  const zeros = new Uint8Array(rows).fill(2 ** (bits - 1));
  const dense = Float32Array.from(codes, (q, i) => scales[Math.floor(i / cols)] * (q - zeros[Math.floor(i / cols)]));
  return { grid: { rows, cols, bits, codes, scales, zeros }, dense };
}

function randomInput(be: Backend, rows: number, cols: number, seed: number): Tensor {
  let s = seed >>> 0 || 1;
  const a = new Float32Array(rows * cols);
  for (let i = 0; i < a.length; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; a[i] = (s >>> 0) / 2 ** 32 - 0.5; }
  return be.upload(a, [rows, cols]);
}

function maxRelative(a: Float32Array, b: Float32Array): number {
  let top = 0, worst = 0;
  for (let i = 0; i < a.length; i++) { top = Math.max(top, Math.abs(b[i])); worst = Math.max(worst, Math.abs(a[i] - b[i])); }
  return worst / top;
}

async function linears(be: WebGpuBackend): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const [wBits, aBits] of [[4, 4], [8, 8]]) {
    const act: ActQuantSpec = { bits: aBits, symmetric: true, clipRatio: 1 };
    for (const [inDim, outDim] of [[4096, 4096], [4096, 11008], [11008, 4096]]) {
      const { grid, dense } = randomGrid(outDim, inDim, wBits, 1 + inDim + outDim);
      const w = be.upload(dense, [outDim, inDim]), codes = be.uploadIntegerWeight(grid), x = randomInput(be, TOKENS, inDim, 7);
      const fake = () => { const xq = be.actQuant(x, act); const y = be.linear(xq, w); be.free(xq); return y; };
      const flops = 2 * TOKENS * inDim * outDim, key = `w${wBits}a${aBits}_${inDim}_${outDim}`;
      const integer = await timed(be, () => be.integerLinear(x, codes, act), 10);
      be.products = 'f32';
      const fakeF32 = await timed(be, fake, 10);
      const reference = await be.read(fake());
      be.products = be.int8 ? 'int8-slices' : 'f32';
      const fakeSlices = await timed(be, fake, 10);
      const diff = maxRelative(await be.read(be.integerLinear(x, codes, act)), reference);
      Object.assign(figures, {
        [`${key}_integer_ms`]: integer * 1e3, [`${key}_integer_tops`]: flops / integer / 1e12,
        [`${key}_fake_f32_ms`]: fakeF32 * 1e3, [`${key}_fake_slices_ms`]: fakeSlices * 1e3, [`${key}_max_rel_diff`]: diff,
      });
      console.log(`  W${wBits}A${aBits} ${inDim} -> ${outDim}, ${TOKENS} tokens: integer ${(integer * 1e3).toFixed(2)} ms (${(flops / integer / 1e12).toFixed(0)} TOPS); `
        + `fake quantization ${(fakeF32 * 1e3).toFixed(2)} ms with the f32 kernel (${(fakeF32 / integer).toFixed(1)}x), ${(fakeSlices * 1e3).toFixed(2)} ms by int8 slices (${(fakeSlices / integer).toFixed(1)}x); `
        + `largest difference ${diff.toExponential(1)} of the largest output`);
      [w, codes, x].forEach((t) => be.free(t));
    }
  }
  return figures;
}

/** One 7B block, W4A4, both ways. */
async function block(be: WebGpuBackend): Promise<Record<string, number>> {
  const dir = benchArg('model-dir') ?? path.join(os.tmpdir(), 'lowbit-llama7b-1');
  if (!fs.existsSync(path.join(dir, 'config.json'))) writeSyntheticLlama(dir, 1);
  const model = openModelDir(dir);
  const cfg = model.config, arch = architectureOf(cfg);
  const act: ActQuantSpec = { bits: 4, symmetric: true, clipRatio: 1 };
  const fakeBlock = arch.loadBlock(cfg, model.source, be, 0), intBlock = arch.loadBlock(cfg, model.source, be, 0);
  for (const name of arch.linearNames(cfg)) {
    const w = model.source.readF32(arch.linearWeightName(0, name));
    const [rows, cols] = model.source.shape(arch.linearWeightName(0, name));
    const grid = quantizeRtn(w, rows, cols, { bits: 4, groupSize: 0, symmetric: true });
    be.free(linearTensors(fakeBlock.linears[name]).weight);
    be.free(linearTensors(intBlock.linears[name]).weight);
    fakeBlock.linears[name] = new QuantizedActLinear(be.upload(dequantizeGroupGrid(grid), [rows, cols]), undefined, act, null);
    intBlock.linears[name] = new IntegerActLinear(be.uploadIntegerWeight(rowGridOf(grid)!), undefined, act, null);
  }
  model.close();
  const shape = { batch: 2, seqLen: 2048 }, x = randomInput(be, TOKENS, cfg.hiddenSize, 9);
  const figures: Record<string, number> = {};
  for (const [label, b, products] of [['integer', intBlock, 'f32'], ['fake_f32', fakeBlock, 'f32'], ['fake_slices', fakeBlock, 'int8-slices']] as const) {
    if (products === 'int8-slices' && !be.int8) continue;
    be.products = products;
    const sec = await timed(be, () => arch.blockForward(be, cfg, b, x, shape), 5);
    figures[`block_${label}_ms`] = sec * 1e3;
    figures[`block_${label}_tokens_per_s`] = TOKENS / sec;
  }
  be.products = be.int8 ? 'int8-slices' : 'f32';
  console.log(`  one W4A4 decoder block (Llama-2-7B shape), 2 x 2048 tokens: integer ${figures.block_integer_ms.toFixed(1)} ms (${figures.block_integer_tokens_per_s.toFixed(0)} tokens/s); `
    + `fake quantization ${figures.block_fake_f32_ms.toFixed(1)} ms with the f32 kernel (${(figures.block_fake_f32_ms / figures.block_integer_ms).toFixed(2)}x)`
    + (figures.block_fake_slices_ms ? `, ${figures.block_fake_slices_ms.toFixed(1)} ms by int8 slices (${(figures.block_fake_slices_ms / figures.block_integer_ms).toFixed(2)}x)` : ''));
  return figures;
}

export async function benchInteger(_limits: MachineLimits): Promise<Record<string, number>> {
  const be = (await createBackend('gpu')) as WebGpuBackend;
  console.log(`\n== integer products for quantized activations on ${be.name} (${be.int8 ? 'int8 tensor cores' : 'no int8 subgroup matrices: INTEGER_MATMUL'}) against fake quantization`);
  try {
    return { ...(await linears(be)), ...(await block(be)) };
  } finally {
    be.dispose?.();
  }
}
