/**
 * The GPU the WebGPU backend runs on, per host: a browser's navigator.gpu, or in Node Dawn's addon
 * from the npm package `webgpu`, an optional dependency the user installs (`npm install webgpu`,
 * ~21 MB for one platform) when they want the GPU. LOWBIT_WEBGPU may name the package's folder
 * instead (the test path installs it apart from the project's dependencies).
 */
import { hostEnv, nodeBuiltin } from '../../io/node-files.js';
import { LowbitError } from '../../util/errors.js';
import { openWebGpuBackend } from './device.js';
import type { WebGpuBackend } from './webgpu-backend.js';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let dawn: Promise<DawnModule> | null = null;

async function loadDawn(): Promise<DawnModule> {
  const dir = hostEnv('LOWBIT_WEBGPU');
  const path = nodeBuiltin<typeof import('node:path')>('node:path'), url = nodeBuiltin<typeof import('node:url')>('node:url');
  const specifier = dir && path && url ? url.pathToFileURL(path.join(path.resolve(dir), 'index.js')).href : 'webgpu';
  try {
    const mod = (await import(specifier)) as DawnModule;
    // WebGPU's constants (GPUBufferUsage, GPUMapMode) are globals in a browser; Dawn exports them.
    Object.assign(globalThis, mod.globals);
    return mod;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' ? 'is not installed' : `did not load (${(e as Error).message.split('\n')[0]})`;
    throw new LowbitError(`the GPU backend needs the npm package webgpu (Dawn), which ${why}: npm install webgpu`, dir);
  }
}

/** The WebGPU backend on this host's GPU: the browser's navigator.gpu where there is one, else Dawn in Node. */
export async function hostWebGpuBackend(): Promise<WebGpuBackend> {
  const browserGpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (browserGpu) return openWebGpuBackend(browserGpu);
  dawn ??= loadDawn();
  const { create } = await dawn;
  // allow_unsafe_apis: Dawn offers its experimental features (the int8 subgroup matrices) only then.
  const be = await openWebGpuBackend(create(['enable-dawn-features=allow_unsafe_apis']));
  // LOWBIT_GPU_PRODUCTS=f32|int8-slices: how linear multiplies (WebGpuBackend.products).
  const products = hostEnv('LOWBIT_GPU_PRODUCTS');
  if (products === 'f32' || (products === 'int8-slices' && be.int8)) be.products = products;
  else if (products) throw new LowbitError(`LOWBIT_GPU_PRODUCTS=${products}: f32, or int8-slices on a GPU with int8 subgroup matrices${be.int8 ? '' : ' (this one has none)'}`);
  return be;
}
