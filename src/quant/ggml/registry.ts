/** The ggml tensor types lowbit reads and writes: float types by element size, block types by their files. */
import type { GgmlBlockType } from './block-type.js';
import { Q4_0 } from './q4_0.js';
import { Q4_1 } from './q4_1.js';
import { Q5_0 } from './q5_0.js';
import { Q5_1 } from './q5_1.js';
import { Q8_0 } from './q8_0.js';
import { Q2_K } from './q2_k.js';
import { Q3_K } from './q3_k.js';
import { Q4_K } from './q4_k.js';
import { Q5_K } from './q5_k.js';
import { Q6_K } from './q6_k.js';
import { IQ4_NL } from './iq4_nl.js';
import { IQ4_XS } from './iq4_xs.js';

export const BLOCK_TYPES: Record<string, GgmlBlockType> = Object.fromEntries(
  [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS].map((t) => [t.name, t]),
);

/** Unquantized element types: ggml_type id and bytes per element. */
export const FLOAT_TYPES: Record<string, { id: number; bytes: number }> = {
  F32: { id: 0, bytes: 4 },
  F16: { id: 1, bytes: 2 },
  BF16: { id: 30, bytes: 2 },
};

/** Names of every ggml_type id (for messages about files that use types lowbit does not decode). */
export const GGML_TYPE_NAMES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K',
  12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S',
  20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64',
  29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4', 40: 'NVFP4',
};

export function blockTypeById(id: number): GgmlBlockType | undefined {
  return Object.values(BLOCK_TYPES).find((t) => t.id === id);
}

/** Bytes of one row of n weights in the named type (n must be a multiple of the block size). */
export function rowBytes(type: string, n: number): number {
  const fl = FLOAT_TYPES[type];
  if (fl) return fl.bytes * n;
  const t = BLOCK_TYPES[type];
  return (n / t.blockSize) * t.blockBytes;
}
