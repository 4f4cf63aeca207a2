/**
 * When a lowbit group grid is exactly a ggml block type (so `lowbit export` can write it to GGUF
 * without changing a single weight): groups of 32 consecutive inputs, no act-order g_idx, and
 *   - symmetric 4/5/8 bits: s * (c - 2^(b-1)) is Q4_0 / Q5_0 / Q8_0's d * q with d = s;
 *   - asymmetric 4/5 bits: s * (c - z) = s * c + m is Q4_1 / Q5_1 when m = -s * z is an f16 value
 *     (checked per group: a zero point whose offset f16 cannot hold is refused, naming the group).
 * Anything else gets the reason it cannot be stored.
 */
import { f16Bits, roundToF16 } from '../../io/float.js';
import type { GroupGrid } from '../group-grid.js';
import { writeF16Bits } from './block-type.js';
import { BLOCK_TYPES, rowBytes } from './registry.js';

/** The ggml type a group grid is, or the reason it is none. */
export function ggmlTypeOfGroupGrid(g: Pick<GroupGrid, 'bits' | 'groupSize' | 'symmetric' | 'groupIndex'>): string | { reason: string } {
  if (g.groupIndex) return { reason: 'act-order (g_idx) groups are not runs of consecutive inputs, as ggml blocks are' };
  if (g.groupSize !== 32) return { reason: `groups of ${g.groupSize} (ggml's legacy blocks hold 32 weights; quantize with --gguf to use K-quants)` };
  const t = g.symmetric ? { 4: 'Q4_0', 5: 'Q5_0', 8: 'Q8_0' }[g.bits] : { 4: 'Q4_1', 5: 'Q5_1' }[g.bits];
  return t ?? { reason: `${g.symmetric ? 'symmetric' : 'asymmetric'} ${g.bits}-bit grids have no ggml block type` };
}

/** The grid's bytes in its ggml type (throws with the reason when a group's offset is not an f16). */
export function groupGridToGgml(g: GroupGrid, type: string): Uint8Array {
  const t = BLOCK_TYPES[type], rb = rowBytes(type, g.cols), groups = g.cols / 32;
  const out = new Uint8Array(g.rows * rb), codes = new Uint8Array(32);
  for (let r = 0; r < g.rows; r++)
    for (let b = 0; b < groups; b++) {
      const at = r * rb + b * t.blockBytes, s = g.scales[r * groups + b], z = g.zeros[r * groups + b];
      writeF16Bits(out, at, f16Bits(s));
      if (!g.symmetric) {
        const m = -s * z;
        if (roundToF16(m) !== m) throw new Error(`row ${r}, group ${b}: the offset -scale x zero = ${m} is not an f16 value, so ${type} cannot hold it exactly`);
        writeF16Bits(out, at + 2, f16Bits(m));
      }
      for (let i = 0; i < 32; i++) {
        const c = g.codes[r * g.cols + b * 32 + i];
        codes[i] = type === 'Q8_0' ? (c - 128) & 0xff : c;
      }
      t.packCodes(codes, out, at);
    }
  return out;
}
