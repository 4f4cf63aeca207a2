/**
 * C = A B^T for int8 A [m, k] and B [n, k] on the int8 tensor cores, through WebGPU's subgroup
 * matrices (Dawn's `chromium-experimental-subgroup-matrix`: i8 x i8 -> i32 in 16x16x32 steps),
 * exact in i32. Rows are int8 packed four to an i32 and read as vec4<i32> (16 int8); offsets and
 * row strides count those vec4s. C is i32 [.., ldc].
 *
 * A workgroup of 2 x 2 subgroups computes a 128 x 128 tile, each subgroup a 64 x 64 block as
 * 4 x 4 result matrices. K advances in slices of 32 int8: all 128 threads copy the tile's slices of
 * A and B from storage into workgroup memory, double-buffered (the next slice is read into
 * registers while the subgroups multiply this one, and stored into the other stage after: one
 * barrier a slice); the subgroups load their operands from there. Two choices make it fast on the
 * H100 (bench/int8.ts: 318 TOPS at 4096^3, against 58 for operands loaded straight from storage):
 *   - every workgroup-memory offset is a constant: each 64-row block of a slice has its own array
 *     and each subgroup its own copy of the multiply code (a switch), because Dawn's bounds checks
 *     wrap a subgroup-matrix load at a run-time offset in a run-time test, which halved the rate;
 *   - the double buffering (without it, 126 TOPS).
 * Needs m and n multiples of 128 and k a multiple of 64: callers pad with zeros.
 */
import type { Kernel } from './kernel.js';

/** Rows and columns of C a workgroup computes; k advances INT8_K_STEP a loop trip (two slices). */
export const INT8_TILE = 128;
export const INT8_K_STEP = 64;

const SLICE = 32; // int8 of k a slice
const WORDS = SLICE / 4; // i32 words of a row's slice in workgroup memory
const VECS = SLICE / 16; // vec4<i32> of a row's slice in storage
const THREADS = 128;
const PER_THREAD = (64 * VECS * 4) / THREADS; // vec4s a thread copies per slice (2 blocks of A, 2 of B)
const FRAGMENTS = [0, 1, 2, 3];

/** Element t of this thread's copy: block (A0, A1, B0, B1), row in it, vec4 in the row. */
const where = (t: number) => `let f${t} = li + ${t * THREADS}u; let blk${t} = f${t} / ${64 * VECS}u; let er${t} = (f${t} % ${64 * VECS}u) / ${VECS}u; let v${t} = f${t} % ${VECS}u;`;

/** Reads the slice at int8 offset `k` of this thread's elements into registers r0... */
function fetch(k: string): string {
  return Array.from({ length: PER_THREAD }, (_, t) => `{ ${where(t)}
      if (blk${t} < 2u) { r${t} = A[p.offA + (row0 + blk${t} * 64u + er${t}) * p.lda + (${k}) / 16u + v${t}]; }
      else { r${t} = B[p.offB + (col0 + (blk${t} - 2u) * 64u + er${t}) * p.ldb + (${k}) / 16u + v${t}]; } }`).join('\n    ');
}

/** Stores the registers into stage `st`. */
function put(st: number): string {
  return Array.from({ length: PER_THREAD }, (_, t) => {
    const store = (arr: string) => `${arr}[at] = r${t}.x; ${arr}[at + 1u] = r${t}.y; ${arr}[at + 2u] = r${t}.z; ${arr}[at + 3u] = r${t}.w;`;
    return `{ ${where(t)} let at = er${t} * ${WORDS}u + v${t} * 4u;
      switch (blk${t}) { case 0u: { ${store(`As0_${st}`)} } case 1u: { ${store(`As1_${st}`)} } case 2u: { ${store(`Bs0_${st}`)} } default: { ${store(`Bs1_${st}`)} } } }`;
  }).join('\n    ');
}

/** The 16 multiply-accumulates of subgroup (si, sj) on stage st, at constant offsets. */
function multiply(st: number): string {
  const body = (si: number, sj: number) => [
    ...FRAGMENTS.map((i) => `let a${i} = subgroupMatrixLoad<subgroup_matrix_left<i8, 32, 16>>(&As${si}_${st}, ${16 * i * SLICE}u, false, ${SLICE}u);`),
    ...FRAGMENTS.map((j) => `let b${j} = subgroupMatrixLoad<subgroup_matrix_right<i8, 16, 32>>(&Bs${sj}_${st}, ${16 * j * SLICE}u, true, ${SLICE}u);`),
    ...FRAGMENTS.flatMap((i) => FRAGMENTS.map((j) => `c${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, c${i}${j});`)),
  ].join('\n        ');
  return `switch (sg) {
      ${[0, 1, 2, 3].map((sg) => `case ${sg}u: {
        ${body(sg >> 1, sg & 1)}
      }`).join('\n      ')}
      default: {}
    }`;
}

export const INT8_MATMUL: Kernel = {
  name: 'int8-matmul',
  directives: ['enable chromium_experimental_subgroup_matrix;', 'diagnostic(off, chromium.subgroup_matrix_uniformity);'],
  buffers: [{ name: 'A', type: 'vec4<i32>' }, { name: 'B', type: 'vec4<i32>' }, { name: 'C', type: 'i32', write: true }],
  params: { k: 'u32', lda: 'u32', ldb: 'u32', offA: 'u32', offB: 'u32', ldc: 'u32', offC: 'u32' },
  body: /* wgsl */ `
${[0, 1].flatMap((st) => [`var<workgroup> As0_${st}: array<i32, ${64 * WORDS}>;`, `var<workgroup> As1_${st}: array<i32, ${64 * WORDS}>;`, `var<workgroup> Bs0_${st}: array<i32, ${64 * WORDS}>;`, `var<workgroup> Bs1_${st}: array<i32, ${64 * WORDS}>;`]).join('\n')}

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * ${INT8_TILE}u;
  let col0 = wg.x * ${INT8_TILE}u;
  let sg = li / 32u;
  let sr = (sg / 2u) * 64u;
  let sc = (sg % 2u) * 64u;
  ${Array.from({ length: PER_THREAD }, (_, t) => `var r${t}: vec4<i32>;`).join(' ')}
  ${FRAGMENTS.flatMap((i) => FRAGMENTS.map((j) => `var c${i}${j} = subgroup_matrix_result<i32, 16, 16>();`)).join('\n  ')}
  ${fetch('0u')}
  ${put(0)}
  workgroupBarrier();
  for (var k0 = 0u; k0 < p.k; k0 += ${INT8_K_STEP}u) {
    ${fetch(`k0 + ${SLICE}u`)}
    ${multiply(0)}
    ${put(1)}
    workgroupBarrier();
    let more = k0 + ${INT8_K_STEP}u < p.k;
    if (more) {
      ${fetch(`k0 + ${INT8_K_STEP}u`)}
    }
    ${multiply(1)}
    if (more) {
      ${put(0)}
    }
    workgroupBarrier();
  }
  ${FRAGMENTS.flatMap((i) => FRAGMENTS.map((j) => `subgroupMatrixStore(&C, p.offC + (row0 + sr + ${16 * i}u) * p.ldc + col0 + sc + ${16 * j}u, c${i}${j}, false, p.ldc);`)).join('\n  ')}
}`,
};
