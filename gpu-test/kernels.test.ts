/**
 * Every WGSL kernel of the WebGPU backend against the CPU backend, on shapes that are not
 * multiples of the kernels' tiles. Runs in its own process with an adapter (SwiftShader in CI:
 * scripts/with-swiftshader.js; a real GPU on the GPU machine: npm run gpu-check) and fails, never
 * skips, when there is none.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createBackend, type Backend, type Tensor } from '../src/backend/index.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { hadamardRotation } from '../src/linalg/hadamard.js';
import { randn, relDiff } from '../test/helpers.js';
import { bf16ToF32, f16ToF32, f32ToBf16 } from '../src/io/float.js';
import type { WebGpuBackend } from '../src/backend/webgpu/webgpu-backend.js';
import type { TensorSource } from '../src/io/tensor-source.js';
import { uploadTensor } from '../src/arch/layers.js';

let gpu: Backend;
const cpu = new CpuBackend();

before(async () => {
  gpu = await createBackend('gpu');
  // This suite holds the f32 kernels to f32 tolerances; products by int8 slices (the default where
  // the GPU has int8 subgroup matrices) have their own test below.
  (gpu as WebGpuBackend).products = 'f32';
});
after(() => gpu?.dispose?.());

test('a WebGPU adapter is there (the suite fails rather than skips without one)', () => {
  assert.match(gpu.name, /^webgpu \(/);
});

/** Runs `op` on both backends with the same inputs and returns the two results. */
async function both(inputs: { data: Float32Array; shape: number[] }[], op: (be: Backend, t: Tensor[]) => Tensor): Promise<[Float32Array, Float32Array]> {
  const run = async (be: Backend) => be.read(op(be, inputs.map((i) => be.upload(i.data, i.shape))));
  return [await run(gpu), await run(cpu)];
}

const input = (shape: number[], seed: number, scale = 1) => ({ data: randn(shape.reduce((a, b) => a * b, 1), seed, scale), shape });

async function agrees(name: string, inputs: { data: Float32Array; shape: number[] }[], op: (be: Backend, t: Tensor[]) => Tensor, tol = 2e-6): Promise<void> {
  const [g, c] = await both(inputs, op);
  assert.equal(g.length, c.length, `${name}: sizes`);
  const d = relDiff(g, c);
  assert.ok(d <= tol, `${name}: relative difference ${d.toExponential(2)} > ${tol}`);
}

test('matmul in all four transpose combinations, linear with and without bias, gram', async () => {
  const [m, k, n] = [70, 131, 45];
  for (const transA of [false, true])
    for (const transB of [false, true])
      await agrees(`matmul tA=${transA} tB=${transB}`, [input(transA ? [k, m] : [m, k], 1), input(transB ? [n, k] : [k, n], 2)],
        (be, [a, b]) => be.matmul(a, b, { transA, transB }));
  await agrees('linear', [input([3, 37, 96], 3), input([200, 96], 4)], (be, [x, w]) => be.linear(x, w));
  await agrees('linear + bias', [input([130, 96], 5), input([65, 96], 6), input([65], 7)], (be, [x, w, b]) => be.linear(x, w, b));
  await agrees('gram', [input([300, 77], 8)], (be, [x]) => be.gram(x));
});

test('linear with a weight kept in 16-bit floats (bf16; f16 with subnormals), odd length: exactly the widened weight\'s product', async () => {
  const [out, inDim] = [65, 97]; // 6305 weights: the last word holds one
  const x = gpu.upload(randn(37 * inDim, 11), [37, inDim]), bias = gpu.upload(randn(out, 12), [out]);
  const bf16 = f32ToBf16(randn(out * inDim, 13, 0.05));
  // f16: every finite pattern is possible, subnormals (exponent 0) one in 31.
  const f16 = new Uint16Array(out * inDim);
  let subnormals = 0;
  for (let i = 0; i < f16.length; i++) {
    f16[i] = Math.floor(Math.abs(Math.sin(i * 12.9898) * 43758.5453) * 65536) % 65536;
    if ((f16[i] & 0x7c00) === 0x7c00) f16[i] &= 0xbfff; // Inf/NaN -> finite
    if ((f16[i] & 0x7c00) === 0) subnormals++;
  }
  assert.ok(subnormals > 50, `${subnormals} subnormals`);
  for (const [format, bits, widened] of [['bf16', bf16, bf16ToF32(bf16)], ['f16', f16, f16ToF32(f16)]] as const) {
    const half = gpu.uploadHalf!({ format, bits }, [out, inDim]);
    const dense = gpu.upload(widened, [out, inDim]);
    for (const b of [undefined, bias]) {
      const fromHalf = await gpu.read(gpu.linear(x, half, b)), fromDense = await gpu.read(gpu.linear(x, dense, b));
      assert.deepEqual(fromHalf, fromDense, `${format}${b ? ' + bias' : ''}: the kernel widens each weight exactly`);
    }
    const onCpu = await cpu.read(cpu.linear(cpu.upload(await gpu.read(x), [37, inDim]), cpu.upload(widened, [out, inDim])));
    assert.ok(relDiff(await gpu.read(gpu.linear(x, half)), onCpu) <= 2e-6, `${format}: agrees with the CPU`);
    assert.throws(() => gpu.matmul(x, half, { transB: true }), /only be the weight of linear/);
    assert.throws(() => gpu.add(half, half), /only be the weight of linear/);
    // uploadWidened: an f32 tensor of exactly the host's widened values; odd length, an even one
    // uploaded from its own memory, and one at an offset of 2 bytes (copied).
    const rows = 64, even = rows * inDim;
    assert.deepEqual(await gpu.read(gpu.uploadWidened!({ format, bits }, [out, inDim])), widened, `${format}: widened on the device`);
    assert.deepEqual(await gpu.read(gpu.uploadWidened!({ format, bits: bits.subarray(0, even) }, [rows, inDim])), widened.subarray(0, even), `${format}: even length`);
    assert.deepEqual(await gpu.read(gpu.uploadWidened!({ format, bits: bits.subarray(1, 1 + even) }, [rows, inDim])), widened.subarray(1, 1 + even), `${format}: at an offset`);
  }
});

test('uploadTensor: a bf16/f16 matrix widened on the device; NaN and Inf named with the tensor and file', async () => {
  const bits = f32ToBf16(randn(12 * 10, 21));
  const source = (b: Uint16Array, format: 'bf16' | 'f16'): TensorSource => ({
    dir: '/m', has: () => true, shape: () => [12, 10], fileOf: () => '/m/model.safetensors',
    readF32: () => { throw new Error('read as stored, not as f32'); },
    readPacked: () => ({ shape: [12, 10], byteLength: b.byteLength, decode: () => bf16ToF32(b), half: { format, bits: b } }),
  });
  assert.deepEqual(await gpu.read(uploadTensor(gpu, source(bits, 'bf16'), 'w')), bf16ToF32(bits));
  const nan = bits.slice(); nan[37] = 0x7fc1;
  assert.throws(() => uploadTensor(gpu, source(nan, 'bf16'), 'w'), /^LowbitError: \/m\/model.safetensors: tensor w contains NaN at element 37$/m);
  const inf = new Uint16Array(120); inf[5] = 0xfc00;
  assert.throws(() => uploadTensor(gpu, source(inf, 'f16'), 'w'), /tensor w contains Inf at element 5/);
});

test('integer products for quantized activations (integerLinear): the fake quantization\'s result, from the codes; weights of 4 and 8 bits per channel, activations of 4 and 8 bits, symmetric or not, bias, an all-zero row', async () => {
  const [rows, k, n] = [150, 131, 140]; // two tiles of 128 each way; k padded to 192
  const x = randn(rows * k, 31);
  x.fill(0, 5 * k, 6 * k);
  const bias = randn(n, 32);
  let seed = 33;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (const bits of [4, 8]) {
    const maxq = 2 ** bits - 1;
    const codes = Uint8Array.from({ length: n * k }, () => Math.floor(next() * (maxq + 1)));
    const scales = Float32Array.from({ length: n }, () => 0.01 + 0.05 * next());
    const zeros = Uint8Array.from({ length: n }, () => Math.floor(next() * (maxq + 1)));
    const dense = Float32Array.from(codes, (q, i) => scales[Math.floor(i / k)] * (q - zeros[Math.floor(i / k)]));
    const w = gpu.uploadIntegerWeight!({ rows: n, cols: k, bits, codes, scales, zeros });
    for (const act of [{ bits: 4, symmetric: true }, { bits: 4, symmetric: false }, { bits: 8, symmetric: true }, { bits: 8, symmetric: false }]) {
      const spec = { ...act, clipRatio: 0.9 };
      for (const b of [undefined, bias]) {
        const xq = cpu.actQuant(cpu.upload(x, [rows, k]), spec);
        const expected = await cpu.read(cpu.linear(xq, cpu.upload(dense, [n, k]), b && cpu.upload(b, [n])));
        const got = await gpu.read(gpu.integerLinear!(gpu.upload(x, [rows, k]), w, spec, b && gpu.upload(b, [n])));
        const d = relDiff(got, expected);
        assert.ok(d <= 1e-5, `W${bits}A${act.bits}${act.symmetric ? ' symmetric' : ''}${b ? ' + bias' : ''}: relative difference ${d.toExponential(2)}`);
        assert.deepEqual(got.subarray(5 * n, 6 * n), b ? Float32Array.from(bias) : new Float32Array(n), 'an all-zero row gives the bias');
      }
    }
    gpu.free(w);
  }
});

test('elementwise kernels and row reductions', async () => {
  const a = input([33, 70], 10), b = input([33, 70], 11);
  await agrees('add', [a, b], (be, [x, y]) => be.add(x, y));
  await agrees('mul', [a, b], (be, [x, y]) => be.mul(x, y));
  await agrees('scale', [a], (be, [x]) => be.scale(x, -0.37));
  await agrees('siluMul', [input([33, 70], 12, 4), b], (be, [x, y]) => be.siluMul(x, y));
  await agrees('rowSumSquares', [input([5, 1000], 13)], (be, [x]) => be.rowSumSquares(x));
  await agrees('rmsNorm', [input([7, 300], 14), input([300], 15)], (be, [x, w]) => be.rmsNorm(x, w, 1e-5));
  await agrees('relu', [a], (be, [x]) => be.relu(x), 0);
  // Rows with a large common offset: the mean is taken out before the variance (torch's LayerNorm).
  const offsetRows = input([7, 300], 20);
  offsetRows.data.forEach((v, i) => (offsetRows.data[i] = v + 30));
  // Routing: 8 experts, top 2, a row of equal logits (ties go to the lower index) among random ones.
  const logits = input([37, 8], 23, 2);
  logits.data.fill(0.5, 8, 16);
  await agrees('routeTopK', [logits], (be, [l]) => be.routeTopK(l, 2));
  await agrees('scaleRows', [a, input([33, 5], 24)], (be, [x, w]) => be.scaleRows(x, w, 3), 0);
  await agrees('scaleRows indicator', [a, input([33, 5], 25)], (be, [x, w]) => be.scaleRows(x, be.routeTopK(w, 2), 1, true), 0);
  await agrees('layerNorm', [offsetRows, input([300], 21), input([300], 22)], (be, [x, w, bias]) => be.layerNorm(x, w, bias, 1e-5));
  await agrees('embedding', [input([50, 24], 16)], (be, [t]) => be.embedding(t, new Int32Array([49, 0, 7, 7, 31])), 0);
  await agrees('nll', [input([9, 4099], 17, 3)], (be, [l]) => be.nll(l, new Int32Array([0, 1, 4098, 5, 17, 100, 2000, 3, 3])));
  await agrees('concatRows', [input([4, 24], 18), input([3, 24], 19)], (be, [x, y]) => be.concatRows(x, y), 0);
});

test('rope: rotate-half pairs with the angles of each row\'s position in its window', async () => {
  const seqLen = 11, heads = 3, hd = 16;
  await agrees('rope', [input([2 * seqLen, heads * hd], 20), input([seqLen, hd / 2], 21), input([seqLen, hd / 2], 22)],
    (be, [x, c, s]) => be.rope(x, c, s, heads, hd));
});

test('attention: causal, grouped KV heads, sliding window, several windows; and over a KV cache', async () => {
  const batch = 2, seqLen = 150, heads = 6, kvHeads = 2, hd = 40;
  for (const window of [0, 37])
    await agrees(`attention window ${window}`, [input([batch * seqLen, heads * hd], 23), input([batch * seqLen, kvHeads * hd], 24), input([batch * seqLen, kvHeads * hd], 25)],
      (be, [q, k, v]) => be.attention(q, k, v, { batch, seqLen, heads, kvHeads, headDim: hd, window }));
  const past = 70, n = 5;
  await agrees('attendCached', [input([n, heads * hd], 26), input([past + n, kvHeads * hd], 27), input([past + n, kvHeads * hd], 28)],
    (be, [q, k, v]) => be.attendCached(q, k, v, { heads, kvHeads, headDim: hd, past, window: 20 }));
  // Head dimension 128 (Llama-2-7B): the accumulator spans two of each thread's four slots.
  await agrees('attention hd 128', [input([90, 2 * 128], 29), input([90, 128], 30), input([90, 128], 31)],
    (be, [q, k, v]) => be.attention(q, k, v, { batch: 1, seqLen: 90, heads: 2, kvHeads: 1, headDim: 128 }));
});

test('activation fake quantization (symmetric and asymmetric, with an all-zero row) and rotations', async () => {
  const x = input([6, 200], 32, 2);
  x.data.fill(0, 200, 400); // row 1: stays zero
  for (const symmetric of [true, false])
    await agrees(`actQuant sym=${symmetric}`, [x], (be, [t]) => be.actQuant(t, { bits: 4, clipRatio: 0.9, symmetric }));
  for (const size of [64, 704, 96]) {
    const r = hadamardRotation(size, 3);
    await agrees(`rotate ${r.construction}`, [input([5, size], 33)], (be, [t]) => be.rotate(t, r), 1e-5);
  }
});

test('tensors freed and reused from the pool keep later results right', async () => {
  const w = gpu.upload(randn(64 * 64, 40), [64, 64]);
  let x = gpu.upload(randn(10 * 64, 41), [10, 64]);
  const ref = { w: cpu.upload(randn(64 * 64, 40), [64, 64]), x: cpu.upload(randn(10 * 64, 41), [10, 64]) };
  for (let i = 0; i < 20; i++) {
    const y = gpu.rmsNorm(gpu.linear(x, w), gpu.upload(new Float32Array(64).fill(1), [64]), 1e-6);
    gpu.free(x);
    x = y;
    ref.x = cpu.rmsNorm(cpu.linear(ref.x, ref.w), cpu.upload(new Float32Array(64).fill(1), [64]), 1e-6);
  }
  assert.ok(relDiff(await gpu.read(x), await cpu.read(ref.x)) < 1e-4);
});

test('int8 tensor cores (where the adapter has subgroup matrices; not SwiftShader): x W^T by exact int8 slices against f64, padded shapes, bias, slices kept per weight', async (t) => {
  const be = gpu as WebGpuBackend;
  if (!be.int8) {
    t.skip('this adapter has no int8 subgroup matrices');
    return;
  }
  // 200 x 1100 by 130 x 1100: none a multiple of the 128 x 128 tiles or of the 64-deep k step,
  // and more words a row than the split's 256 threads (each cuts several).
  const [m, k, n] = [200, 1100, 130];
  const x = randn(m * k, 41), w = randn(n * k, 42, 0.02), bias = randn(n, 43);
  for (let i = 0; i < m; i++) x[i * k + 17] *= 30; // an outlier feature
  const want = new Float64Array(m * n), mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = bias[j], a = Math.abs(bias[j]);
      for (let p = 0; p < k; p++) { s += x[i * k + p] * w[j * k + p]; a += Math.abs(x[i * k + p] * w[j * k + p]); }
      want[i * n + j] = s;
      mag[i * n + j] = a;
    }
  const before = be.products;
  be.products = 'int8-slices';
  try {
    const wt = be.upload(w, [n, k]), bt = be.upload(bias, [n]);
    for (const round of [1, 2]) { // the second with the weight's slices kept from the first
      const got = await be.read(be.linear(be.upload(x, [m, k]), wt, bt));
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / mag[i]);
      assert.ok(worst < 1e-4, `round ${round}: largest error ${worst.toExponential(2)} of sum |x w|`);
    }
    be.free(wt);
  } finally {
    be.products = before;
  }
});
