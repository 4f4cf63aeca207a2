/**
 * Accumulates H = X^T X over calibration batches for the inputs of a block's linear layers. Each
 * batch's Gram matrix is computed on the backend in f32 (a sum over at most a few thousand tokens)
 * and added into an f64 accumulator, so the sum over all calibration tokens does not lose
 * precision however many batches there are.
 */
import type { LinearName } from '../arch/llama.js';

/** Linear layers that read the same input share one Hessian (q/k/v, and gate/up). */
export const INPUT_GROUPS: Record<string, LinearName[]> = {
  attn_in: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'],
  o_in: ['self_attn.o_proj'],
  mlp_in: ['mlp.gate_proj', 'mlp.up_proj'],
  down_in: ['mlp.down_proj'],
};

export function inputGroupOf(name: LinearName): string {
  for (const [g, members] of Object.entries(INPUT_GROUPS)) if (members.includes(name)) return g;
  throw new Error(`no input group for ${name}`);
}

export class HessianAccumulator {
  readonly dim: number;
  readonly sum: Float64Array;
  tokens = 0;

  constructor(dim: number) {
    this.dim = dim;
    this.sum = new Float64Array(dim * dim);
  }

  /** Adds one batch's Gram matrix X^T X (f32, as read from the backend) over `tokens` rows. */
  addGram(gram: Float32Array, tokens: number): void {
    for (let i = 0; i < gram.length; i++) this.sum[i] += gram[i];
    this.tokens += tokens;
  }
}
