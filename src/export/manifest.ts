/**
 * lowbit.json: the file that says what a quantized model directory is. A directory with this
 * file holds model.safetensors with the unquantized tensors as they were (original dtype) and,
 * for each quantized linear layer `<name>`, the tensors `<name>.<suffix>` of its format (see
 * src/quant/formats). config.json and the tokenizer files are copied from the source model.
 *
 * Format version 2 bit-packs every integer tensor of a quantized layer (codes, zero points, group
 * indices, positions) at the width its largest value needs (io/bitpack.ts; the layer entry's
 * `packed` says which, with the original dtype and shape), so the file holds what `bitsPerWeight`
 * reports. Version 1 (codes one U8 per weight) still loads.
 */
import type { BitsBreakdown, FormatParams } from '../quant/types.js';
import type { GgufOutput } from './gguf/plan.js';

export const MANIFEST_FILE = 'lowbit.json';
export const MANIFEST_FORMAT_VERSION = 2;

export interface LayerEntry {
  format: string;
  params: FormatParams;
  rows: number;
  cols: number;
  bits: BitsBreakdown;
  bitsPerWeight: number;
  /** Method-specific per-layer report (e.g. relative layer objective). */
  report?: Record<string, number | string | boolean>;
  /** Integer tensors stored bit-packed (format v2): suffix -> width and the tensor as the format reads it. */
  packed?: Record<string, { width: number; dtype: 'U8' | 'I32'; shape: number[] }>;
  /** false for a matrix stored in a GGUF target's type but not counted in bits per weight (token embedding, output). */
  counted?: boolean;
}

/** How the quantized model runs beyond its weights (absent or null: plain weight-only model). */
export interface ManifestRuntime {
  /** Per-token activation quantization of every block linear's input. */
  activation: { bits: number; clipRatio: number; symmetric: boolean } | null;
  /** Weights are stored rotated (QuaRot); `seed` regenerates the online rotation before down_proj. */
  rotation: { kind: 'hadamard'; seed: number; residual: string; down: string } | null;
}

export interface LowbitManifest {
  lowbit: { version: string; formatVersion: number };
  description: string;
  method: string;
  options: Record<string, unknown>;
  source: { path: string; architecture: string };
  runtime?: ManifestRuntime;
  /** The GGUF target this directory was quantized for (`lowbit export` writes that file). */
  gguf?: GgufOutput;
  createdAt: string;
  summary: {
    quantizedLayers: number;
    quantizedParams: number;
    bits: BitsBreakdown;
    /** Total bits of the quantized layers over their parameter count. */
    bitsPerWeight: number;
    seconds: number;
    [key: string]: unknown;
  };
  layers: Record<string, LayerEntry>;
}
