/**
 * A WGSL compute kernel as the WebGPU backend runs it: its code, the storage buffers it binds (in
 * binding order) and its scalar parameters. The parameters become the WGSL struct `Params` at
 * binding `buffers.length` (a uniform), generated from the same list the backend fills, so the
 * two cannot drift apart.
 */
export type ParamType = 'u32' | 'f32';

export interface Kernel {
  /** Unique name: compiled pipelines are cached by it. */
  readonly name: string;
  /** Storage buffers, binding 0.. in order; `write` is the one the kernel writes; element type f32 unless given. */
  readonly buffers: readonly { readonly name: string; readonly write?: boolean; readonly type?: 'f32' | 'u32' | 'i32' | 'vec4<i32>' }[];
  /**
   * WGSL global directives placed first (`enable ...;`, `diagnostic(...);`): an extension the
   * kernel needs must be offered by the device (see WebGpuBackend.int8).
   */
  readonly directives?: readonly string[];
  /** Scalar parameters (field name -> type), in struct order. */
  readonly params: Readonly<Record<string, ParamType>>;
  /** The kernel's body: functions and the `@compute` entry point `main`, using `p.<param>` and the buffers by name. */
  readonly body: string;
}

/** Values for a kernel's parameters. */
export type ParamValues = Record<string, number>;

/**
 * Workgroups are laid out in 2-D because one dimension holds at most 65,535 of them; `GROUP`
 * gives the flat index of the current workgroup, and kernels skip indices past their count.
 */
const GROUP_INDEX = `fn groupIndex(wg: vec3u, nwg: vec3u) -> u32 { return wg.y * nwg.x + wg.x; }`;

/** The full WGSL source of a kernel. */
export function kernelSource(k: Kernel): string {
  const bindings = k.buffers.map((b, i) =>
    `@group(0) @binding(${i}) var<storage, ${b.write ? 'read_write' : 'read'}> ${b.name}: array<${b.type ?? 'f32'}>;`);
  const fields = Object.entries(k.params).map(([n, t]) => `  ${n}: ${t},`);
  return [
    ...(k.directives ?? []),
    `struct Params {\n${fields.join('\n')}\n}`,
    ...bindings,
    `@group(0) @binding(${k.buffers.length}) var<uniform> p: Params;`,
    GROUP_INDEX,
    k.body,
  ].join('\n');
}

/** Bytes of a kernel's uniform block: 4 per field, rounded up to WebGPU's 16-byte uniform alignment. */
export function paramBytes(k: Kernel): number {
  return Math.max(16, Math.ceil((Object.keys(k.params).length * 4) / 16) * 16);
}

/** Writes parameter values in struct order, at byte `offset` of `out`. */
export function packParams(k: Kernel, values: ParamValues, out: ArrayBuffer, offset = 0): void {
  const view = new DataView(out, offset, paramBytes(k));
  Object.entries(k.params).forEach(([name, type], i) => {
    const v = values[name];
    if (v === undefined) throw new Error(`kernel ${k.name}: parameter ${name} not given`);
    if (type === 'u32') view.setUint32(i * 4, v, true);
    else view.setFloat32(i * 4, v, true);
  });
}

/** The largest workgroup count of one dispatch dimension (WebGPU's default limit). */
export const MAX_GROUPS_PER_DIM = 65535;

/** A 2-D grid of at least `groups` workgroups (see `groupIndex`). */
export function grid(groups: number): [number, number] {
  if (groups <= MAX_GROUPS_PER_DIM) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / MAX_GROUPS_PER_DIM);
  return [Math.ceil(groups / y), y];
}
