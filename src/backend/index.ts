/**
 * Backend selection: `cpu` (host memory, the native addon's kernels), `gpu` (WebGPU), or `auto`
 * (the GPU when WebGPU is installed and finds an adapter, else the CPU).
 */
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import { LowbitError } from '../util/errors.js';

export type { Backend, Tensor, AttentionShape, ActQuantSpec, CachedAttentionShape } from './backend.js';

export const DEVICES = ['cpu', 'gpu', 'auto'] as const;
export type Device = (typeof DEVICES)[number];

const BACKENDS: Record<Exclude<Device, 'auto'>, () => Promise<Backend>> = {
  cpu: async () => new CpuBackend(),
  // Loaded on demand: the WebGPU host pulls in Dawn, which a CPU run never needs.
  gpu: async () => (await import('./webgpu/host-gpu.js')).hostWebGpuBackend(),
};

export async function createBackend(device: Device = 'cpu'): Promise<Backend> {
  if (device === 'auto') {
    try {
      return await BACKENDS.gpu();
    } catch (e) {
      if (e instanceof LowbitError) return BACKENDS.cpu();
      throw e;
    }
  }
  const make = BACKENDS[device];
  if (!make) throw new LowbitError(`unknown device ${device} (available: ${DEVICES.join(', ')})`);
  return make();
}
