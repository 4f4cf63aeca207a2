/**
 * Accumulates H = X^T X over calibration batches for the inputs of a block's linear layers. Each
 * batch's Gram matrix is computed on the backend in f32 (a sum over at most a few thousand tokens)
 * and added into an f64 accumulator, so the sum over all calibration tokens does not lose
 * precision however many batches there are. Which linears share an input (one accumulator) is
 * the architecture's (Architecture.inputGroups).
 */
export class HessianAccumulator {
  readonly dim: number;
  /** X^T X. */
  readonly sum: Float64Array;
  /** With activation quantization: X~^T X~ and X^T X~ (X~ the quantized input), else null. */
  readonly quantized: { qq: Float64Array; xq: Float64Array } | null;
  tokens = 0;

  constructor(dim: number, withQuantizedInput = false) {
    this.dim = dim;
    this.sum = new Float64Array(dim * dim);
    this.quantized = withQuantizedInput ? { qq: new Float64Array(dim * dim), xq: new Float64Array(dim * dim) } : null;
  }

  /** Adds batch products read from the backend (f32) into an f64 accumulator. */
  static addInto(acc: Float64Array, batch: Float32Array): void {
    for (let i = 0; i < batch.length; i++) acc[i] += batch[i];
  }

  /** Adds one batch's Gram matrix X^T X (f32, as read from the backend) over `tokens` rows. */
  addGram(gram: Float32Array, tokens: number): void {
    HessianAccumulator.addInto(this.sum, gram);
    this.tokens += tokens;
  }
}
