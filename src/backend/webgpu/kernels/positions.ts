/**
 * Kernels that place tokens: the embedding lookup (rows of a table by token id) and the rotary
 * position embedding in Hugging Face's rotate-half convention:
 *   out[i] = x[i] cos - x[i + half] sin,   out[i + half] = x[i + half] cos + x[i] sin
 * with the angles of position (row mod seqLen) from [seqLen, half] tables.
 */
import type { Kernel } from './kernel.js';

export const EMBEDDING: Kernel = {
  name: 'embedding',
  buffers: [{ name: 'table' }, { name: 'ids', type: 'u32' }, { name: 'out', write: true }],
  params: { n: 'u32', d: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = groupIndex(wg, nwg) * 256u + t;
  if (i >= p.n * p.d) { return; }
  out[i] = table[ids[i / p.d] * p.d + i % p.d];
}`,
};

/** One thread per rotated pair (row, head, i < half). */
export const ROPE: Kernel = {
  name: 'rope',
  buffers: [{ name: 'x' }, { name: 'cosT' }, { name: 'sinT' }, { name: 'out', write: true }],
  params: { rows: 'u32', seqLen: 'u32', heads: 'u32', half: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let id = groupIndex(wg, nwg) * 256u + t;
  if (id >= p.rows * p.heads * p.half) { return; }
  let i = id % p.half;
  let h = (id / p.half) % p.heads;
  let row = id / (p.half * p.heads);
  let o = row * p.heads * 2u * p.half + h * 2u * p.half;
  let a = (row % p.seqLen) * p.half + i;
  let x1 = x[o + i];
  let x2 = x[o + p.half + i];
  out[o + i] = x1 * cosT[a] - x2 * sinT[a];
  out[o + p.half + i] = x2 * cosT[a] + x1 * sinT[a];
}`,
};
