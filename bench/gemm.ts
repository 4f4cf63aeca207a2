/**
 * GEMM throughput of the CPU options lowbit could use: plain TypeScript, WebAssembly SIMD, and
 * the native addon (one core and all cores). The native addon is what lowbit uses.
 */
import { native } from '../src/native/index.js';
import { gemmReference } from '../src/linalg/gemm.js';
import type { MachineLimits } from './machine.js';
import { loadWasmGemm } from './wasm-sgemm.js';

function nativeSeconds(m: number, n: number, k: number, reps: number): number {
  const a = new Float32Array(m * k).map(() => Math.random()), b = new Float32Array(k * n).map(() => Math.random());
  const c = new Float32Array(m * n);
  native!.sgemm(false, false, m, n, k, 1, a, 0, k, b, 0, n, 0, c, 0, n);
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    native!.sgemm(false, false, m, n, k, 1, a, 0, k, b, 0, n, 0, c, 0, n);
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

export async function benchGemm(limits: MachineLimits): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const gf = (m: number, n: number, k: number, s: number) => (2 * m * n * k) / s / 1e9;
  const pct = (g: number) => (limits.peakGflops ? ` = ${((100 * g) / limits.peakGflops).toFixed(0)}% of the ${limits.peakGflops.toFixed(0)} GFLOP/s peak` : '');
  console.log('\nsgemm (f32, C = A B, best of repeated runs):');
  if (native) {
    for (const [m, n, k] of [[1024, 1024, 1024], [4096, 4096, 512]]) {
      const g = gf(m, n, k, nativeSeconds(m, n, k, m === 1024 ? 10 : 4));
      out[`native_${m}x${n}x${k}`] = g;
      console.log(`  native, all cores   ${m}x${n}x${k}: ${g.toFixed(1)} GFLOP/s${pct(g)}`);
    }
    const threads = native.info().threads;
    native.info(1);
    const g1 = gf(1024, 1024, 1024, nativeSeconds(1024, 1024, 1024, 5));
    native.info(threads);
    out.native_1core_1024 = g1;
    console.log(`  native, one core    1024x1024x1024: ${g1.toFixed(1)} GFLOP/s (one-core peak ${limits.peakGflopsOneCore.toFixed(0)})`);
  }
  const wasm = await loadWasmGemm();
  wasm.time(256, 256, 256);
  const gw = gf(1024, 1024, 1024, Math.min(wasm.time(1024, 1024, 1024), wasm.time(1024, 1024, 1024)));
  out.wasm_simd_1core_1024 = gw;
  console.log(`  WebAssembly SIMD, one core 1024x1024x1024: ${gw.toFixed(1)} GFLOP/s (bench/sgemm.wat; no FMA in baseline SIMD)`);
  const n = 512;
  const a = new Float32Array(n * n).map(() => Math.random()), b = new Float32Array(n * n).map(() => Math.random()), c = new Float32Array(n * n);
  gemmReference({ m: 64, n, k: n }, { data: a }, { data: b }, { data: c });
  const t = performance.now();
  gemmReference({ m: n, n, k: n }, { data: a }, { data: b }, { data: c });
  const gt = gf(n, n, n, (performance.now() - t) / 1000);
  out.typescript_1core_512 = gt;
  console.log(`  plain TypeScript, one core 512x512x512: ${gt.toFixed(2)} GFLOP/s (src/linalg/gemm.ts fallback)`);
  return out;
}
