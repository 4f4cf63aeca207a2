/**
 * Elementwise kernels: out[i] = f(a[i], b[i]) over n elements, 256 threads a workgroup.
 * `s` is a scalar parameter (used by `scale`).
 */
import type { Kernel } from './kernel.js';
import { HALF_AT } from './matmul.js';

function elementwise(name: string, expr: string, inputs: 1 | 2): Kernel {
  return {
    name,
    buffers: [{ name: 'a' }, ...(inputs === 2 ? [{ name: 'b' }] : []), { name: 'out', write: true }],
    params: { n: 'u32', s: 'f32' },
    body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = groupIndex(wg, nwg) * 256u + t;
  if (i >= p.n) { return; }
  let x = a[i];
  ${inputs === 2 ? 'let y = b[i];' : ''}
  out[i] = ${expr};
}`,
  };
}

export const ADD = elementwise('add', 'x + y', 2);
export const MUL = elementwise('mul', 'x * y', 2);
export const SCALE = elementwise('scale', 'x * p.s', 1);
/** SwiGLU: silu(gate) * up with silu(g) = g / (1 + e^-g). */
export const SILU_MUL = elementwise('silu_mul', '(x / (1.0 + exp(-x))) * y', 2);

/**
 * out[i, j] = x[i, j] * weights[i, column], or * (weights[i, column] != 0) with `indicator`: an
 * expert's output weighted by its routing, or the rows routed to it.
 */
export const SCALE_ROWS: Kernel = {
  name: 'scale_rows',
  buffers: [{ name: 'x' }, { name: 'w' }, { name: 'out', write: true }],
  params: { n: 'u32', d: 'u32', cols: 'u32', column: 'u32', indicator: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = groupIndex(wg, nwg) * 256u + t;
  if (i >= p.n) { return; }
  let s = w[(i / p.d) * p.cols + p.column];
  out[i] = x[i] * select(s, select(0.0, 1.0, s != 0.0), p.indicator != 0u);
}`,
};

/** max(x, 0). */
export const RELU = elementwise('relu', 'max(x, 0.0)', 1);

export const ELEMENTWISE_GROUP = 256;

/** out[i] = element i of 16-bit floats stored two to a u32 word (Backend.uploadWidened), widened exactly. */
export const WIDEN_HALF: Record<'bf16' | 'f16', Kernel> = {
  bf16: widenHalf('bf16'),
  f16: widenHalf('f16'),
};

function widenHalf(format: 'bf16' | 'f16'): Kernel {
  return {
    name: `widen_${format}`,
    buffers: [{ name: 'B', type: 'u32' }, { name: 'out', write: true }],
    params: { n: 'u32' },
    body: /* wgsl */ `${HALF_AT[format]}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = groupIndex(wg, nwg) * 256u + t;
  if (i >= p.n) { return; }
  out[i] = halfAt(i);
}`,
  };
}
