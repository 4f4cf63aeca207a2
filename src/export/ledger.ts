/**
 * The per-layer record both model writers keep (lowbit directory, GGUF file): each stored layer's
 * entry for the manifest, and the bits and parameters of the counted ones (the decoder linears;
 * a GGUF target's token embedding is stored but not counted) for bits per weight.
 */
import { type BitsBreakdown, NO_BITS, addBits, totalBits, type StoredWeight } from '../quant/types.js';
import type { LayerEntry } from './manifest.js';

export class LayerLedger {
  readonly layers: Record<string, LayerEntry> = {};
  private bits: BitsBreakdown = { ...NO_BITS };
  private params = 0;
  private counted = 0;

  record(layer: string, q: StoredWeight, report: Record<string, number | string | boolean> | undefined, counted: boolean, extra: Partial<LayerEntry> = {}): void {
    const n = q.rows * q.cols;
    this.layers[layer] = {
      format: q.format, params: q.params, rows: q.rows, cols: q.cols, bits: q.bits,
      bitsPerWeight: totalBits(q.bits) / n, ...(report ? { report } : {}), ...(counted ? {} : { counted: false }), ...extra,
    };
    if (!counted) return;
    this.bits = addBits(this.bits, q.bits);
    this.params += n;
    this.counted++;
  }

  /** The manifest summary's counts: layers, parameters and bits of the counted layers. */
  summary(): { quantizedLayers: number; quantizedParams: number; bits: BitsBreakdown; bitsPerWeight: number } {
    return { quantizedLayers: this.counted, quantizedParams: this.params, bits: this.bits, bitsPerWeight: this.params ? totalBits(this.bits) / this.params : 0 };
  }
}
