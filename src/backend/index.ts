/** Backend selection. Only the CPU backend exists so far; a WebGPU backend plugs in here. */
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';

export type { Backend, Tensor, AttentionShape, ActQuantSpec, CachedAttentionShape } from './backend.js';

export const BACKENDS: Record<string, () => Backend> = {
  cpu: () => new CpuBackend(),
};

export function createBackend(name = 'cpu'): Backend {
  const make = BACKENDS[name];
  if (!make) throw new Error(`unknown backend ${name} (available: ${Object.keys(BACKENDS).join(', ')})`);
  return make();
}
