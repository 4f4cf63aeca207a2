/**
 * f32 products on the int8 tensor cores by exact int8 slices (src/backend/webgpu/split-product.ts),
 * against the f32 kernel, toward issue 11's part 5 (f32-accurate products at 50 TFLOP/s or more):
 *   - accuracy against f64 for x W^T, x [256, 4096] with N(0, 1) entries and three outlier
 *     features 30x larger (as LLM activations have), W [512, 4096] N(0, 0.02) rounded to bf16 (as a
 *     checkpoint's weights): the largest error relative to sum_k |x_k w_k| and the RMS error
 *     relative to the result's RMS;
 *   - time at 4096 tokens for a Llama-2-7B block's three linear shapes (the weight cut into slices
 *     once, as a forward would keep it; x cut every time, included), as TFLOP/s of the f32 product.
 *   npm run bench -- split      (needs a GPU whose adapter offers int8 subgroup matrices: the H100 does)
 */
import { createBackend, type Tensor } from '../src/backend/index.js';
import type { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.js';
import { freeSplit, splitProduct, splitRows } from '../src/backend/webgpu/split-product.js';
import type { MachineLimits } from './machine.js';
import { timed } from './gpu.js';
import { bf16ToF32, f32ToBf16 } from '../src/io/float.js';

/** Normal deviates (Box-Muller on a xorshift stream). */
function normal(n: number, seed: number, sd: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const u = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return ((s >>> 0) + 0.5) / 2 ** 32; };
  for (let i = 0; i < n; i++) a[i] = sd * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return a;
}

/** The values a bf16 checkpoint would hold. */
const bf16 = (a: Float32Array) => bf16ToF32(f32ToBf16(a));

/** The variants: the f32 kernel, and slices/levels of the split product. */
const SPLITS = [{ slices: 2, levels: 2, what: '2 slices, levels 0-1 (3 int8 products)' }, { slices: 3, levels: 3, what: '3 slices, levels 0-2 (6 int8 products)' }];

export async function benchSplitProduct(_limits: MachineLimits): Promise<Record<string, number>> {
  const be = (await createBackend('gpu')) as WebGpuBackend;
  const figures: Record<string, number> = {};
  try {
    if (!be.int8) {
      console.log('\n== split products: this adapter has no int8 subgroup matrices (none in SwiftShader); nothing to measure');
      return figures;
    }
    console.log(`\n== f32 products by int8 slices on ${be.name}`);
    // Accuracy against f64.
    const [m, n, k] = [256, 512, 4096];
    const x = normal(m * k, 1, 1);
    for (const c of [7, 1000, 3001]) for (let i = 0; i < m; i++) x[i * k + c] *= 30;
    const w = bf16(normal(n * k, 2, 0.02));
    const ref = new Float64Array(m * n), mag = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0, a = 0;
        for (let t = 0; t < k; t++) { const p = x[i * k + t] * w[j * k + t]; s += p; a += Math.abs(p); }
        ref[i * n + j] = s;
        mag[i * n + j] = a;
      }
    const xt = be.upload(x, [m, k]), wt = be.upload(w, [n, k]);
    const errors = (y: Float32Array) => {
      let worst = 0, e2 = 0, r2 = 0;
      for (let i = 0; i < y.length; i++) {
        const d = y[i] - ref[i];
        worst = Math.max(worst, Math.abs(d) / mag[i]);
        e2 += d * d;
        r2 += ref[i] * ref[i];
      }
      return { worst, rms: Math.sqrt(e2 / r2) };
    };
    const report = (key: string, what: string, y: Float32Array) => {
      const e = errors(y);
      figures[`${key}_max_err`] = e.worst;
      figures[`${key}_rms_err`] = e.rms;
      console.log(`  accuracy against f64, ${what}: largest error ${e.worst.toExponential(2)} of sum|x w|, RMS ${e.rms.toExponential(2)} of the result's`);
    };
    const f32Linear = (a: Tensor, b: Tensor) => {
      const before = be.products;
      be.products = 'f32'; // linear's own choice on this GPU is the int8 slices measured below
      const y = be.linear(a, b);
      be.products = before;
      return y;
    };
    report('f32', 'f32 kernel', await be.read(f32Linear(xt, wt)));
    for (const s of SPLITS) {
      const xs = splitRows(be, xt, s.slices, false), ws = splitRows(be, wt, s.slices, true);
      report(`split${s.slices}`, s.what, await be.read(splitProduct(be, xs, ws, s.levels)));
      freeSplit(be, xs);
      freeSplit(be, ws);
    }
    // Speed at 4096 tokens.
    const tokens = 4096;
    for (const [inDim, outDim] of [[4096, 4096], [4096, 11008], [11008, 4096]]) {
      const xb = be.upload(normal(tokens * inDim, 3, 1), [tokens, inDim]), wb = be.upload(bf16(normal(outDim * inDim, 4, 0.02)), [outDim, inDim]);
      const flop = 2 * tokens * inDim * outDim;
      figures[`f32_${inDim}_${outDim}_tflops`] = flop / (await timed(be, () => f32Linear(xb, wb), 5)) / 1e12;
      const line = [`f32 kernel ${figures[`f32_${inDim}_${outDim}_tflops`].toFixed(1)}`];
      for (const s of SPLITS) {
        const ws = splitRows(be, wb, s.slices, true);
        const sec = await timed(be, () => { const xs = splitRows(be, xb, s.slices, false); const y = splitProduct(be, xs, ws, s.levels); freeSplit(be, xs); return y; }, 5);
        figures[`split${s.slices}_${inDim}_${outDim}_tflops`] = flop / sec / 1e12;
        line.push(`${s.what} ${(flop / sec / 1e12).toFixed(1)}`);
        freeSplit(be, ws);
      }
      console.log(`  x W^T ${inDim} -> ${outDim} at ${tokens} tokens, TFLOP/s of the f32 product: ${line.join('; ')}`);
      [xb, wb].forEach((t: Tensor) => be.free(t));
    }
  } finally {
    be.dispose?.();
  }
  return figures;
}
