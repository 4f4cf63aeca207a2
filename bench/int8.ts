/**
 * A probe of the int8 tensor cores through WebGPU's subgroup matrices (Dawn's experimental
 * `chromium-experimental-subgroup-matrix`: i8 x i8 -> i32 in 16x16x32 steps), toward issue 11's
 * parts 4 and 5 (true integer products for W4A4/W8A8; f32 products through an exact int8 split).
 * Not part of lowbit's backend yet: it measures what the path gives before the backend is built on it.
 *   C = A B^T for int8 A [m, k] and B [n, k] (the layout of x W^T), packed four to an i32, in
 *   variants: one subgroup (a workgroup) computing a 64x64 block of C as 4x4 result matrices with
 *   operands loaded from storage; and sm x sn subgroups sharing a tile staged in workgroup memory.
 * It checks each exactly against the host on a small product and times 4096^3 after half a second
 * of warm-up. On the H100 (2026-11-24, two runs agreeing to 0.2%): all exact; 58.5 TOPS from
 * storage, 52.0 / 62.1 / 49.3 TOPS staged 2x2 k32 / 4x2 k32 / 4x2 k64 (an earlier run without the
 * warm-up gave 87.1 for 2x2 k32 once, not reproduced): some 6% of the H100's dense int8 peak. An
 * exact Ozaki-style split of f32 products takes about three int8 products for bf16-or-better
 * accuracy, so at these rates the path does not beat the f32 kernel (25-29 TFLOP/s).
 *   npm run bench -- int8 [--no-robustness]     (needs a GPU whose adapter offers subgroup matrices: the H100 does)
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MachineLimits } from './machine.js';
import { kernelSource } from '../src/backend/webgpu/kernels/kernel.js';
import { INT8_MATMUL, INT8_TILE } from '../src/backend/webgpu/kernels/int8-matmul.js';

/** C rows and columns a workgroup (one subgroup) computes: WGSL wants the load and store offsets uniform over the workgroup. */
const TILE = 64;

/**
 * The kernel: 16 accumulators per subgroup, unrolled (subgroup matrices do not go into arrays).
 * With `loadOnce`, the multiply-accumulates alone: the eight operand matrices loaded once, before
 * the k loop, and multiplied p.k / 32 times (the products of a C = A B^T without its loads): the
 * rate of the subgroup-matrix multiply as Dawn lowers it, an upper bound for any kernel built on
 * it. Its C is then not A B^T (not checked).
 */
function fromStorageSource(loadOnce = false): string {
  const idx = [0, 1, 2, 3];
  const at = loadOnce ? '' : ' + k0';
  const acc = idx.flatMap((i) => idx.map((j) => `var c${i}${j} = subgroup_matrix_result<i32, 16, 16>();`)).join('\n  ');
  const loads = [
    ...idx.map((i) => `let a${i} = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&A, (row0 + ${16 * i}u) * p.k${at}, false, p.k);`),
    ...idx.map((j) => `let b${j} = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&B, (col0 + ${16 * j}u) * p.k${at}, true, p.k);`),
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
  ${loadOnce ? loads : ''}
  for (var k0 = 0u; k0 < p.k; k0 += 32u) {
    ${loadOnce ? '' : loads}
    ${mma}
  }
  ${stores}
}`;
}

/** The probe's Dawn instance while it runs (see benchInt8). */
const held = new Set<GPU>();

/**
 * The staged variant: sm x sn subgroups a workgroup (each a 64x64 block of C: a tile of 64 sm x
 * 64 sn), the tile's A and B k-slices (kSlice int8 deep) loaded once into workgroup memory by all
 * threads and read by the subgroups from there. Each subgroup's offsets differ, which WGSL's
 * uniformity analysis rejects for subgroup-matrix builtins unless its Chromium rule is turned off.
 */
function stagedKernelSource(sm: number, sn: number, kSlice: number): string {
  const idx = [0, 1, 2, 3];
  const threads = 32 * sm * sn, rowsA = 64 * sm, rowsB = 64 * sn, words = kSlice / 4;
  const acc = idx.flatMap((i) => idx.map((j) => `var c${i}${j} = subgroup_matrix_result<i32, 16, 16>();`)).join('\n  ');
  const step = (kk: number) => [
    ...idx.map((i) => `let a${i}_${kk} = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&As, (sr + ${16 * i}u) * ${kSlice}u + ${kk * 32}u, false, ${kSlice}u);`),
    ...idx.map((j) => `let b${j}_${kk} = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&Bs, (sc + ${16 * j}u) * ${kSlice}u + ${kk * 32}u, true, ${kSlice}u);`),
    ...idx.flatMap((i) => idx.map((j) => `c${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}_${kk}, b${j}_${kk}, c${i}${j});`)),
  ].join('\n    ');
  const steps = Array.from({ length: kSlice / 32 }, (_, kk) => step(kk)).join('\n    ');
  const stores = idx.flatMap((i) => idx.map((j) => `subgroupMatrixStore(&C, (row0 + sr + ${16 * i}u) * p.n + col0 + sc + ${16 * j}u, c${i}${j}, false, p.n);`)).join('\n  ');
  return `
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
struct Params { m: u32, n: u32, k: u32 }
@group(0) @binding(0) var<storage, read> A: array<i32>;
@group(0) @binding(1) var<storage, read> B: array<i32>;
@group(0) @binding(2) var<storage, read_write> C: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> As: array<i32, ${rowsA * words}>;
var<workgroup> Bs: array<i32, ${rowsB * words}>;

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * ${rowsA}u;
  let col0 = wg.x * ${rowsB}u;
  let sg = li / 32u;
  let sr = (sg / ${sn}u) * 64u;
  let sc = (sg % ${sn}u) * 64u;
  let kw = p.k / 4u; // i32 words per row
  ${acc}
  for (var k0 = 0u; k0 < p.k; k0 += ${kSlice}u) {
    for (var e = li; e < ${rowsA * words}u; e += ${threads}u) { As[e] = A[(row0 + e / ${words}u) * kw + k0 / 4u + e % ${words}u]; }
    for (var e = li; e < ${rowsB * words}u; e += ${threads}u) { Bs[e] = B[(col0 + e / ${words}u) * kw + k0 / 4u + e % ${words}u]; }
    workgroupBarrier();
    ${steps}
    workgroupBarrier();
  }
  ${stores}
}`;
}

/**
 * The staged variant with every workgroup-memory offset a constant: each 64-row block of A's slice
 * and each 64-column block of B's has its own workgroup array, and each subgroup runs its own copy
 * of the multiply code (a switch on the subgroup), so Dawn's bounds checks on the subgroup-matrix
 * loads fold away (with dynamic offsets they wrap every load in a run-time test, which halved the
 * staged kernels' rate). The slices are read from storage as vec4<i32> (16 int8 a read).
 */
function constOffsetKernelSource(sm: number, sn: number, kSlice: number): string {
  const idx = [0, 1, 2, 3];
  const threads = 32 * sm * sn, words = kSlice / 4, vecs = kSlice / 16;
  const acc = idx.flatMap((i) => idx.map((j) => `var c${i}${j} = subgroup_matrix_result<i32, 16, 16>();`)).join('\n  ');
  const arrays = [
    ...Array.from({ length: sm }, (_, i) => `var<workgroup> As${i}: array<i32, ${64 * words}>;`),
    ...Array.from({ length: sn }, (_, j) => `var<workgroup> Bs${j}: array<i32, ${64 * words}>;`),
  ].join('\n');
  const stage = (name: string, src: string, base: string) => `for (var e = li; e < ${64 * vecs}u; e += ${threads}u) {
      let x = ${src}[(${base} + e / ${vecs}u) * kv + k0 / 16u + e % ${vecs}u];
      let at = (e / ${vecs}u) * ${words}u + (e % ${vecs}u) * 4u;
      ${name}[at] = x.x; ${name}[at + 1u] = x.y; ${name}[at + 2u] = x.z; ${name}[at + 3u] = x.w;
    }`;
  const loads = [
    ...Array.from({ length: sm }, (_, i) => stage(`As${i}`, 'A', `row0 + ${64 * i}u`)),
    ...Array.from({ length: sn }, (_, j) => stage(`Bs${j}`, 'B', `col0 + ${64 * j}u`)),
  ].join('\n    ');
  const body = (si: number, sj: number) => Array.from({ length: kSlice / 32 }, (_, kk) => [
    ...idx.map((i) => `let a${i}_${kk} = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&As${si}, ${16 * i * kSlice + 32 * kk}u, false, ${kSlice}u);`),
    ...idx.map((j) => `let b${j}_${kk} = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&Bs${sj}, ${16 * j * kSlice + 32 * kk}u, true, ${kSlice}u);`),
    ...idx.flatMap((i) => idx.map((j) => `c${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}_${kk}, b${j}_${kk}, c${i}${j});`)),
  ].join('\n        ')).join('\n        ');
  const cases = Array.from({ length: sm * sn }, (_, sg) => `case ${sg}u: {
        ${body(Math.floor(sg / sn), sg % sn)}
      }`).join('\n      ');
  const stores = idx.flatMap((i) => idx.map((j) => `subgroupMatrixStore(&C, (row0 + sr + ${16 * i}u) * p.n + col0 + sc + ${16 * j}u, c${i}${j}, false, p.n);`)).join('\n  ');
  return `
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
struct Params { m: u32, n: u32, k: u32 }
@group(0) @binding(0) var<storage, read> A: array<vec4<i32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read_write> C: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;
${arrays}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * ${64 * sm}u;
  let col0 = wg.x * ${64 * sn}u;
  let sg = li / 32u;
  let sr = (sg / ${sn}u) * 64u;
  let sc = (sg % ${sn}u) * 64u;
  let kv = p.k / 16u; // vec4<i32> per row
  ${acc}
  for (var k0 = 0u; k0 < p.k; k0 += ${kSlice}u) {
    ${loads}
    workgroupBarrier();
    switch (sg) {
      ${cases}
      default: {}
    }
    workgroupBarrier();
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
  // Held in a module variable for the whole probe: Dawn tears its device down when the instance is
  // garbage-collected (the large arrays of the timed run trigger a collection), which aborted the process.
  // --no-robustness: without Dawn's bounds checks (a Dawn toggle), to see what they cost the loads.
  const gpu = create([`enable-dawn-features=allow_unsafe_apis${process.argv.includes('--no-robustness') ? ',disable_robustness' : ''}`]);
  held.add(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  const feature = 'chromium-experimental-subgroup-matrix' as GPUFeatureName;
  if (!adapter?.features.has(feature)) {
    console.log('\n== int8 subgroup matrices: this adapter does not offer them (none in SwiftShader); nothing to measure');
    return { supported: 0 };
  }
  const device = await adapter.requestDevice({
    requiredFeatures: [feature],
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize, maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup },
  });
  let error: string | null = null;
  device.addEventListener('uncapturederror', (e) => { error ??= (e as GPUUncapturedErrorEvent).error.message; });
  // Dawn resolves onSubmittedWorkDone from its own polling, which does not keep Node's event loop
  // alive: without a timer, Node exited silently while a long product was running.
  const keepAlive = setInterval(() => {}, 100);
  console.log(`  adapter: ${adapter.info.description}`);
  const pipelineOf = (code: string) => device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const allVariants = [
    { name: 'from storage, 1 subgroup (64x64)', make: () => pipelineOf(fromStorageSource()), tileM: TILE, tileN: TILE },
    { name: 'multiply-accumulates alone (operands loaded once), 1 subgroup (64x64)', make: () => pipelineOf(fromStorageSource(true)), tileM: TILE, tileN: TILE, unchecked: true },
    // The backend's kernel (double-buffered, constant offsets, 2x2 subgroups, k slices of 32). Other
    // double-buffered shapes measured on the H100 were slower: 2x2 k64 252, 4x2 k32 271, 2x4 k32 276 TOPS.
    {
      name: 'the backend\'s INT8_MATMUL: double-buffered, constant offsets, 2x2 subgroups (128x128), k slices of 32', make: () => pipelineOf(kernelSource(INT8_MATMUL)), tileM: INT8_TILE, tileN: INT8_TILE,
      uniform: (_m: number, n: number, k: number) => new Uint32Array([k, k / 16, k / 16, 0, 0, n, 0, 0]),
    },
    ...[[2, 2, 32], [2, 2, 64], [4, 2, 64], [2, 4, 64]].map(([sm, sn, ks]) => ({
      name: `staged, constant offsets, ${sm}x${sn} subgroups (${64 * sm}x${64 * sn}), k slices of ${ks}`, make: () => pipelineOf(constOffsetKernelSource(sm, sn, ks)), tileM: 64 * sm, tileN: 64 * sn,
    })),
    ...[[2, 2, 32], [4, 2, 32], [4, 2, 64]].map(([sm, sn, ks]) => ({
      name: `staged, ${sm}x${sn} subgroups (${64 * sm}x${64 * sn}), k slices of ${ks}`, make: () => pipelineOf(stagedKernelSource(sm, sn, ks)), tileM: 64 * sm, tileN: 64 * sn,
    })),
  ];

  // --only=TEXT: the variants whose name contains TEXT.
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const variants = allVariants.filter((v) => !only || v.name.includes(only));
  const compiled = new Map<(typeof variants)[number], GPUComputePipeline>();
  const buffer = (data: Int8Array | Int32Array | Uint32Array, usage: number) => {
    const b = device.createBuffer({ size: Math.max(16, data.byteLength), usage, mappedAtCreation: true });
    new Uint8Array(b.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    b.unmap();
    return b;
  };
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  /** C = A B^T on the GPU, `repeats` times; returns C and the seconds per product. */
  const run = async (v: (typeof variants)[number], m: number, n: number, k: number, a: Int8Array, b: Int8Array, repeats: number) => {
    const { tileM, tileN } = v;
    const pipeline = compiled.get(v) ?? compiled.set(v, v.make()).get(v)!; // compiled when first run
    const [ab, bb] = [buffer(a, storage), buffer(b, storage)];
    const cb = device.createBuffer({ size: m * n * 4, usage: storage });
    const ub = buffer('uniform' in v && v.uniform ? v.uniform(m, n, k) : new Uint32Array([m, n, k, 0]), GPUBufferUsage.UNIFORM);
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [ab, bb, cb, ub].map((buf, i) => ({ binding: i, resource: { buffer: buf } })) });
    const submit = (count: number) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let i = 0; i < count; i++) pass.dispatchWorkgroups(n / tileN, m / tileM);
      pass.end();
      device.queue.submit([enc.finish()]);
      return device.queue.onSubmittedWorkDone();
    };
    for (const t0 = performance.now(); performance.now() - t0 < 500;) await submit(repeats); // clocks up
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

  // Exactness on a small product against the host, then the time of 4096^3, for each variant.
  const [m, n, k] = [256, 512, 512];
  const a = randomInt8(m * k, 1), b = randomInt8(n * k, 2);
  const big = { m: 4096, n: 4096, k: 4096 };
  const [bigA, bigB] = [randomInt8(big.m * big.k, 3), randomInt8(big.n * big.k, 4)];
  const figures: Record<string, number> = { supported: 1 };
  console.log('\n== int8 subgroup matrices (i8 x i8 -> i32, 16x16x32): C = A B^T');
  for (const [vi, v] of variants.entries()) {
    if (error) break;
    const { c } = await run(v, m, n, k, a, b, 1).catch((e: Error) => { console.log(`  ${v.name}: ${e.message.split('\n').slice(0, 3).join(' ')}`); return { c: null }; });
    if (!c) continue;
    let wrong = 0;
    if (!('unchecked' in v))
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < k; t++) s += a[i * k + t] * b[j * k + t];
          if (c[i * n + j] !== s) wrong++;
        }
    const { seconds } = await run(v, big.m, big.n, big.k, bigA, bigB, 10);
    const tops = (2 * big.m * big.n * big.k) / seconds / 1e12;
    const check = 'unchecked' in v ? 'not a product (not checked)' : `${m}x${n}x${k} against the host: ${wrong} of ${m * n} outputs differ`;
    console.log(`  ${v.name}: ${check}; ${big.m}^3: ${(seconds * 1000).toFixed(2)} ms = ${tops.toFixed(1)} TOPS`);
    Object.assign(figures, { [`wrong_${vi}`]: wrong, [`tops_${vi}`]: tops });
  }
  clearInterval(keepAlive);
  device.destroy();
  held.delete(gpu);
  return figures;
}
