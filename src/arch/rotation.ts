/**
 * QuaRot-style rotation of a Llama-family model (arXiv 2404.00456), applied to the weights as
 * they are read, so a rotated model can be streamed like any checkpoint:
 *
 *  1. RMSNorm scales are fused into the linears that read the normalised stream
 *     (q/k/v <- input_layernorm, gate/up <- post_attention_layernorm, lm_head <- final norm) and
 *     the norms become plain RMS normalisation (weights 1), which commutes with rotations.
 *  2. The residual stream is rotated by an orthogonal Q (randomized Hadamard, hidden x hidden):
 *     embeddings E <- E Q; linears reading the stream W <- W Q; linears writing to it
 *     W <- Q^T W (and their biases b <- b Q); lm_head <- W Q. Every block then sees x Q instead
 *     of x, and the logits are unchanged (exactly, up to f32 rounding).
 *  3. down_proj's input is rotated online by R (randomized Hadamard, intermediate x intermediate):
 *     the forward applies act <- act R and W_down <- W_down R, again exact.
 * The point: rotated activations have no outlier channels, so 4-bit per-token activation
 * quantization loses far less (QuaRot, and the LRC paper builds on it).
 *
 * With tied embeddings (one matrix E as embedding and LM head) the two sides rotate differently
 * (E Q for the embedding, E diag(g) Q for the head, g the final norm's scales), so the rotated
 * model unties them: lm_head.weight becomes a tensor of its own, counted in the output's size.
 */
import type { TensorSource } from '../io/tensor-source.js';
import { hadamardRotation, rotateRows, type Rotation } from '../linalg/hadamard.js';
import type { ModelConfig } from './config.js';
import { parseLinearWeightName } from './llama.js';

export const LM_HEAD = 'lm_head.weight';
const EMBED = 'model.embed_tokens.weight';

export interface RotationPlan {
  seed: number;
  /** Q, on the residual stream (hidden size). */
  residual: Rotation;
  /** R, online before down_proj (intermediate size). */
  down: Rotation;
}

export function planRotation(cfg: ModelConfig, seed: number): RotationPlan {
  return { seed, residual: hadamardRotation(cfg.hiddenSize, seed), down: hadamardRotation(cfg.intermediateSize, seed + 1) };
}

/** Rows of w [rows, cols] -> w Q (input side). */
function rotateInput(w: Float32Array, rows: number, q: Rotation): Float32Array {
  rotateRows(w, rows, q);
  return w;
}

/** w [rows, cols] -> Q^T w (output side): (Q^T w)^T = w^T Q. */
function rotateOutput(w: Float32Array, rows: number, cols: number, q: Rotation): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  rotateRows(t, cols, q);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] = t[c * rows + r];
  return w;
}

function scaleColumns(w: Float32Array, rows: number, cols: number, g: Float32Array): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] *= g[c];
}

/** A TensorSource whose weights are those of the rotated model (see the module comment). */
export class RotatedSource implements TensorSource {
  readonly dir: string;

  /** The source tensor the LM head is made from: its own, or the embedding it is tied to. */
  private readonly head: string;

  constructor(private readonly src: TensorSource, cfg: ModelConfig, readonly plan: RotationPlan) {
    this.dir = src.dir;
    this.head = cfg.tieWordEmbeddings ? EMBED : LM_HEAD;
  }

  private stored(name: string): string {
    return name === LM_HEAD ? this.head : name;
  }

  has(name: string): boolean {
    return this.src.has(this.stored(name));
  }

  shape(name: string): number[] {
    return this.src.shape(this.stored(name));
  }

  fileOf(name: string): string {
    return this.src.fileOf(this.stored(name));
  }

  readF32(name: string): Float32Array {
    const { residual: q, down: r } = this.plan;
    const [rows, cols] = this.shape(name);
    if (/(input_layernorm|post_attention_layernorm)\.weight$/.test(name) || name === 'model.norm.weight') return new Float32Array(rows).fill(1);
    const w = this.src.readF32(this.stored(name));
    if (name === EMBED) return rotateInput(w, rows, q);
    if (name === LM_HEAD) {
      scaleColumns(w, rows, cols, this.src.readF32('model.norm.weight'));
      return rotateInput(w, rows, q);
    }
    const linear = parseLinearWeightName(name);
    if (linear) {
      const norm = (which: string) => this.src.readF32(`model.layers.${linear.layer}.${which}.weight`);
      switch (linear.linear) {
        case 'self_attn.q_proj': case 'self_attn.k_proj': case 'self_attn.v_proj':
          scaleColumns(w, rows, cols, norm('input_layernorm'));
          return rotateInput(w, rows, q);
        case 'mlp.gate_proj': case 'mlp.up_proj':
          scaleColumns(w, rows, cols, norm('post_attention_layernorm'));
          return rotateInput(w, rows, q);
        case 'self_attn.o_proj':
          return rotateOutput(w, rows, cols, q);
        case 'mlp.down_proj':
          return rotateOutput(rotateInput(w, rows, r), rows, cols, q);
      }
    }
    // Biases of the linears that write to the residual stream rotate with it: b <- b Q.
    if (/\.(o_proj|down_proj)\.bias$/.test(name)) return rotateInput(w, 1, q);
    return w;
  }
}
