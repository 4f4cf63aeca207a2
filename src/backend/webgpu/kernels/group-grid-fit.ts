/**
 * Fitting lowbit's group grids (quant/grid.ts's fitGrid) on the GPU: the rule in WGSL, shared by the
 * kernels that fit grids (the GPTQ/RTN sweep fits a group when it starts; QuantEase fits all groups
 * once, before its sweeps), and GROUP_GRID_FIT, which fits every group of a matrix.
 *
 *   asymmetric: lo = min(min x, 0), hi = max(max x, 0), scale = f16(hi - lo) / maxq), zero = round(-lo / scale)
 *               clamped to the codes (hi = lo: scale 1, zero 0);
 *   symmetric:  scale = f16(max |x| / (half - 1)) (1 for an all-zero group), zero = half.
 * Scales are rounded to f16 because that is how they are stored.
 */
import type { Kernel } from './kernel.js';

/** WGSL: `fitGrid(lo, hi) -> vec2f(scale, zero)` for a group whose values span [lo, hi]; uses p.maxq, p.half, p.symmetric. */
export const FIT_GRID_WGSL = /* wgsl */ `
/** x (> 0, finite) rounded to the nearest f16, ties to even; never below the smallest f16 subnormal (grid.ts's f16Scale). */
fn roundF16(x: f32) -> f32 {
  if (x < 6.103515625e-5) { return max(round(x * 16777216.0), 1.0) * 5.9604644775390625e-8; }
  let b = bitcast<u32>(x);
  return min(bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u), 65504.0);
}

fn fitGrid(lo0: f32, hi0: f32) -> vec2f {
  if (p.symmetric == 1u) {
    let absMax = max(abs(lo0), abs(hi0));
    return vec2f(select(1.0, roundF16(absMax / max(p.half - 1.0, 1.0)), absMax > 0.0), p.half);
  }
  let lo = min(lo0, 0.0);
  let hi = max(hi0, 0.0);
  if (hi == lo) { return vec2f(1.0, 0.0); }
  let scale = roundF16((hi - lo) / p.maxq);
  return vec2f(scale, clamp(round(-lo / scale), 0.0, p.maxq));
}`;

/** The grid parameters the fitting rule reads. */
export const FIT_GRID_PARAMS = { maxq: 'f32', symmetric: 'u32', half: 'f32' } as const;

/** scales/zeros [rows, groups] fitted to the groups of W [rows, cols] (runs of groupSize columns): one thread a group. */
export const GROUP_GRID_FIT: Kernel = {
  name: 'group-grid-fit',
  buffers: [{ name: 'W' }, { name: 'scales', write: true }, { name: 'zeros', type: 'u32', write: true }],
  params: { rows: 'u32', cols: 'u32', groupSize: 'u32', groups: 'u32', ...FIT_GRID_PARAMS },
  body: /* wgsl */ `
${FIT_GRID_WGSL}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let idx = groupIndex(wg, nwg) * 256u + lid.x;
  if (idx >= p.rows * p.groups) { return; }
  let r = idx / p.groups;
  let c0 = (idx % p.groups) * p.groupSize;
  var lo = 3.0e38;
  var hi = -3.0e38;
  for (var c = c0; c < min(p.cols, c0 + p.groupSize); c++) { let x = W[r * p.cols + c]; lo = min(lo, x); hi = max(hi, x); }
  let g = fitGrid(lo, hi);
  scales[idx] = g.x;
  zeros[idx] = u32(g.y);
}`,
};
