/**
 * lowbit.json: the file that says what a quantized model directory is. A directory with this
 * file holds model.safetensors with the unquantized tensors as they were (original dtype) and,
 * for each quantized linear layer `<name>`, the tensors `<name>.<suffix>` of its format (see
 * src/quant/formats). config.json and the tokenizer files are copied from the source model.
 *
 * Format version 1 stores codes unpacked (one U8 per weight); bits are nevertheless counted as
 * a packed format stores them (b bits per code), which is what `bitsPerWeight` reports.
 */
import type { BitsBreakdown, FormatParams } from '../quant/types.js';

export const MANIFEST_FILE = 'lowbit.json';
export const MANIFEST_FORMAT_VERSION = 1;

export interface LayerEntry {
  format: string;
  params: FormatParams;
  rows: number;
  cols: number;
  bits: BitsBreakdown;
  bitsPerWeight: number;
  /** Method-specific per-layer report (e.g. relative layer objective). */
  report?: Record<string, number | string | boolean>;
}

export interface LowbitManifest {
  lowbit: { version: string; formatVersion: number };
  description: string;
  method: string;
  options: Record<string, unknown>;
  source: { path: string; architecture: string };
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
