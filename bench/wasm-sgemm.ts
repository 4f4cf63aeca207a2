/** Loads bench/sgemm.wat (WebAssembly SIMD) through wabt, for the backend comparison. */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../src/api/assets.js';

export interface WasmGemm {
  /** Runs C = A B on M x K and K x N random matrices; returns seconds. */
  time(m: number, n: number, k: number): number;
}

export async function loadWasmGemm(): Promise<WasmGemm> {
  // Loaded here, not at the top: the other bench sections (the GPU machine's, which carries no wabt) run without it.
  const wabt = await (await import('wabt')).default();
  const mod = wabt.parseWat('sgemm.wat', fs.readFileSync(path.join(ROOT, 'bench', 'sgemm.wat'), 'utf8'), { simd: true });
  const { buffer } = mod.toBinary({});
  // Node's WebAssembly global (the project's tsconfig does not pull in DOM typings).
  const wasm = (globalThis as unknown as { WebAssembly: { instantiate(b: Uint8Array): Promise<{ instance: { exports: unknown } }> } }).WebAssembly;
  const { instance } = await wasm.instantiate(buffer);
  const { mem, gemm } = instance.exports as { mem: { buffer: ArrayBuffer; grow(pages: number): number }; gemm: (...a: number[]) => void };
  return {
    time(m, n, k) {
      const need = 4 * (m * k + k * n + m * n);
      if (mem.buffer.byteLength < need) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
      const f = new Float32Array(mem.buffer);
      for (let i = 0; i < m * k + k * n; i++) f[i] = Math.random() - 0.5;
      f.fill(0, m * k + k * n, m * k + k * n + m * n);
      const t = performance.now();
      gemm(0, 4 * m * k, 4 * (m * k + k * n), m, n, k);
      return (performance.now() - t) / 1000;
    },
  };
}
