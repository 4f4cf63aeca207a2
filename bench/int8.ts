/**
 * A probe of the int8 tensor cores through WebGPU's subgroup matrices (Dawn's experimental
 * `chromium-experimental-subgroup-matrix`: i8 x i8 -> i32 in 16x16x32 steps), toward issue 11's
 * parts 4 and 5 (true integer products for W4A4/W8A8; f32 products through an exact int8 split).
 * Not part of lowbit's backend yet: it measures what the path gives before the backend is built on it.
 *   C = A B^T for int8 A [m, k] and B [n, k] (the layout of x W^T), packed four to an i32;
 *   one subgroup (32 threads, a workgroup) computes a 64x64 block of C as 4x4 result matrices;
 *   operands are loaded from storage (no workgroup staging yet).
 * It checks C exactly against the host on a small product (on the H100: 0 of 98,304 outputs differ)
 * and, with --time, times 4096^3. On the H100 (Dawn from webgpu 0.6.x, driver 580.159) the timed run
 * aborts the process inside Dawn ("terminate called after throwing an instance of
 * 'std::system_error': Invalid argument") right after the exact check; finding out why is the next
 * step, so the timing is opt-in.
 *   npm run bench -- int8 [--time]      (needs a GPU whose adapter offers subgroup matrices: the H100 does)
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MachineLimits } from './machine.js';

/** C rows and columns a workgroup (one subgroup) computes: WGSL wants the load and store offsets uniform over the workgroup. */
const TILE = 64;

/** The kernel: 16 accumulators per subgroup, unrolled (subgroup matrices do not go into arrays). */
function kernelSource(): string {
  const idx = [0, 1, 2, 3];
  const acc = idx.flatMap((i) => idx.map((j) => `var c${i}${j} = subgroup_matrix_result<i32, 16, 16>();`)).join('\n  ');
  const loads = [
    ...idx.map((i) => `let a${i} = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&A, (row0 + ${16 * i}u) * p.k + k0, false, p.k);`),
    ...idx.map((j) => `let b${j} = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&B, (col0 + ${16 * j}u) * p.k + k0, true, p.k);`),
  ].join('\n    ');
  const mma = idx.flatMap((i) => idx.map((j) => `c${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, c${i}${j});`)).join('\n    ');
  const stores = idx.flatMap((i) => idx.map((j) => `subgroupMatrixStore(&C, (row0 + ${16 * i}u) * p.n + col0 + ${16 * j}u, c${i}${j}, false, p.n);`)).join('\n  ');
  return `
enable chromium_experimental_subgroup_matrix;
struct Params { m: u32, n: u32, k: u32 }
@group(0) @binding(0) var<storage, read> A: array<i32>;
@group(0) @binding(1) var<storage, read> B: array<i32>;
@group(0) @binding(2) var<storage, read_write> C: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wg: vec3u) {
  let row0 = wg.y * ${TILE}u;
  let col0 = wg.x * ${TILE}u;
  ${acc}
  for (var k0 = 0u; k0 < p.k; k0 += 32u) {
    ${loads}
    ${mma}
  }
  ${stores}
}`;
}

function randomInt8(n: number, seed: number): Int8Array {
  const a = new Int8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    a[i] = ((s >>> 0) % 255) - 127;
  }
  return a;
}

export async function benchInt8(_limits: MachineLimits): Promise<Record<string, number | string>> {
  const dir = process.env.LOWBIT_WEBGPU;
  const { create, globals } = (await import(dir ? pathToFileURL(path.join(path.resolve(dir), 'index.js')).href : 'webgpu')) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, globals);
  const gpu = create(['enable-dawn-features=allow_unsafe_apis']);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const feature = 'chromium-experimental-subgroup-matrix' as GPUFeatureName;
  if (!adapter?.features.has(feature)) {
    console.log('\n== int8 subgroup matrices: this adapter does not offer them (none in SwiftShader); nothing to measure');
    return { supported: 0 };
  }
  const device = await adapter.requestDevice({
    requiredFeatures: [feature],
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  });
  let error: string | null = null;
  device.addEventListener('uncapturederror', (e) => { error ??= (e as GPUUncapturedErrorEvent).error.message; });
  // Dawn resolves onSubmittedWorkDone from its own polling, which does not keep Node's event loop
  // alive: without a timer, Node exited silently while a long product was running.
  const keepAlive = setInterval(() => {}, 100);
  const module = device.createShaderModule({ code: kernelSource() });
  console.log(`  adapter: ${adapter.info.description}`);
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });

  const buffer = (data: Int8Array | Int32Array | Uint32Array, usage: number) => {
    const b = device.createBuffer({ size: Math.max(16, data.byteLength), usage, mappedAtCreation: true });
    new Uint8Array(b.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    b.unmap();
    return b;
  };
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  /** C = A B^T on the GPU, `repeats` times; returns C and the seconds per product. */
  const run = async (m: number, n: number, k: number, a: Int8Array, b: Int8Array, repeats: number) => {
    const [ab, bb] = [buffer(a, storage), buffer(b, storage)];
    const cb = device.createBuffer({ size: m * n * 4, usage: storage });
    const ub = buffer(new Uint32Array([m, n, k, 0]), GPUBufferUsage.UNIFORM);
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [ab, bb, cb, ub].map((buf, i) => ({ binding: i, resource: { buffer: buf } })) });
    const submit = (count: number) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let i = 0; i < count; i++) pass.dispatchWorkgroups(n / TILE, m / TILE);
      pass.end();
      device.queue.submit([enc.finish()]);
      return device.queue.onSubmittedWorkDone();
    };
    await submit(2);
    let best = Infinity;
    for (let t = 0; t < 3; t++) {
      const t0 = performance.now();
      await submit(repeats);
      best = Math.min(best, (performance.now() - t0) / 1000 / repeats);
    }
    const read = device.createBuffer({ size: m * n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(cb, 0, read, 0, m * n * 4);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const c = new Int32Array(read.getMappedRange().slice(0));
    read.unmap();
    if (error) throw new Error(`WebGPU: ${error}`);
    return { c, seconds: best };
  };

  // Exactness on a small product against the host.
  const [m, n, k] = [256, 384, 512];
  const a = randomInt8(m * k, 1), b = randomInt8(n * k, 2);
  const { c } = await run(m, n, k, a, b, 1);
  let wrong = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t] * b[j * k + t];
      if (c[i * n + j] !== s) wrong++;
    }
  console.log(`\n== int8 subgroup matrices (i8 x i8 -> i32, 16x16x32), operands from storage, 64x64 a subgroup:`);
  console.log(`  ${m}x${n}x${k} against the host: ${wrong} of ${m * n} outputs differ`);
  if (!process.argv.includes('--time')) {
    clearInterval(keepAlive);
    return { supported: 1, wrong };
  }
  const big = { m: 4096, n: 4096, k: 4096 };
  const { seconds } = await run(big.m, big.n, big.k, randomInt8(big.m * big.k, 3), randomInt8(big.n * big.k, 4), 10);
  const tops = (2 * big.m * big.n * big.k) / seconds / 1e12;
  console.log(`  ${big.m}x${big.n}x${big.k}: ${(seconds * 1000).toFixed(2)} ms = ${tops.toFixed(1)} TOPS`);
  clearInterval(keepAlive);
  return { supported: 1, wrong, tops };
}
