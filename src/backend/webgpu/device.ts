/**
 * Opening a WebGPU device for lowbit, whatever provides `GPU` (Dawn in Node, a browser's
 * navigator.gpu). The device asks for the adapter's largest storage buffers and workgroup memory
 * (the defaults, 128 MiB and 16 KiB, are too small for a 7B model's embedding and logits).
 */
import { LowbitError } from '../../util/errors.js';
import { WebGpuBackend } from './webgpu-backend.js';

/** Why no adapter was found, in words a user can act on. */
export const NO_ADAPTER = 'no WebGPU adapter: the GPU backend needs a Vulkan, Metal or D3D12 driver for a GPU '
  + '(without a GPU, SwiftShader\'s Vulkan driver runs WebGPU on the CPU, for testing: see the README)';

/** Dawn's experimental subgroup matrices (i8 x i8 -> i32 among them). */
const SUBGROUP_MATRIX = 'chromium-experimental-subgroup-matrix' as GPUFeatureName;

export async function openWebGpuBackend(gpu: GPU): Promise<WebGpuBackend> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new LowbitError(NO_ADAPTER);
  const l = adapter.limits;
  // The int8 tensor cores (kernels/int8-matmul.ts), where the adapter offers them: Dawn does when
  // created with allow_unsafe_apis (host-gpu.ts); a browser does not yet.
  const int8 = adapter.features.has(SUBGROUP_MATRIX);
  const device = await adapter.requestDevice({
    requiredFeatures: int8 ? [SUBGROUP_MATRIX] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    },
  });
  const info = adapter.info;
  const what = [info.description || info.device || info.vendor || 'unknown adapter', info.architecture].filter(Boolean).join(', ');
  return new WebGpuBackend(device, what, gpu, int8);
}
