/**
 * Writes a quantized model directory (layout in manifest.ts). The writer is fed one tensor at a
 * time, so a streaming quantizer never holds more than the tensor it is working on.
 */
import { SafetensorsWriter } from '../io/safetensors-writer.js';
import { exists, files, joinPath } from '../io/host.js';
import { copyFile, writeText } from '../io/staged-file.js';
import type { DType } from '../io/safetensors.js';
import { SINGLE_FILE } from '../io/checkpoint.js';
import type { StoredWeight } from '../quant/types.js';
import { LayerLedger } from './ledger.js';
import { VERSION } from '../util/version.js';
import { MANIFEST_FILE, MANIFEST_FORMAT_VERSION, type LayerEntry, type LowbitManifest, type ManifestRuntime } from './manifest.js';
import type { ModelSink } from './sink.js';
import type { ModelConfig } from '../arch/config.js';
import { ggmlRtn, ggmlRtnOfStored } from '../quant/ggml/ggml-weight.js';
import { packedWeight } from './packing.js';
import { type GgufOutput, ggufTypeOf } from './gguf/plan.js';
import { ggufName } from './gguf/names.js';

/** Files copied verbatim from the source model when present. */
const COPIED_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export interface ModelInfo {
  method: string;
  options: Record<string, unknown>;
  sourceDir: string;
  architecture: string;
  runtime?: ManifestRuntime;
  /**
   * A GGUF target kept as a lowbit directory (`lowbit export` turns it into the GGUF file, losslessly):
   * linears are quantized onto the target's ggml types, and other matrices are stored in theirs.
   */
  gguf?: GgufOutput;
  config?: ModelConfig;
}

export class QuantizedModelWriter implements ModelSink {
  private readonly st: SafetensorsWriter;
  private readonly ledger = new LayerLedger();

  constructor(private readonly dir: string, private readonly info: ModelInfo) {
    this.st = new SafetensorsWriter(joinPath(dir, SINGLE_FILE));
  }

  ggmlTypeFor(name: string, shape: number[]): string | null {
    return this.info.gguf && this.info.config ? ggufTypeOf(this.info.config, this.info.gguf, name, shape) : null;
  }

  /** Stores an unquantized tensor as it was in the source (or, with a GGUF target, in its ggml type). */
  passthrough(name: string, dtype: DType, shape: number[], bytes: Uint8Array): void {
    const type = this.ggmlTypeFor(name, shape);
    if (type && type !== 'F32' && ggufName(name))
      return this.store(name.slice(0, -'.weight'.length), ggmlRtnOfStored(bytes, dtype, shape[0], shape[1], type, name, this.info.sourceDir), undefined, false);
    this.st.add(name, dtype, shape, bytes);
  }

  /** Stores a tensor computed here (e.g. a rotated embedding) as F32 (or in its GGUF target's type). */
  passthroughF32(name: string, data: Float32Array, shape: number[]): void {
    const type = this.ggmlTypeFor(name, shape);
    if (type && type !== 'F32' && ggufName(name)) return this.store(name.slice(0, -'.weight'.length), ggmlRtn(data, shape[0], shape[1], type), undefined, false);
    this.st.add(name, 'F32', shape, data);
  }

  /** Stores a quantized linear layer `layer` (e.g. model.layers.0.mlp.up_proj). */
  quantized(layer: string, q: StoredWeight, report?: Record<string, number | string | boolean>): void {
    this.store(layer, q, report, true);
  }

  /** `counted`: part of the bits-per-weight summary (the decoder linears; not a GGUF target's embedding). */
  private store(layer: string, q: StoredWeight, report: Record<string, number | string | boolean> | undefined, counted: boolean): void {
    const packed: NonNullable<LayerEntry['packed']> = {};
    for (const [suffix, t] of Object.entries(packedWeight(q).tensors)) {
      if (t.packedWidth !== undefined) {
        this.st.add(`${layer}.${suffix}`, 'U8', [t.data.byteLength], t.data);
        packed[suffix] = { width: t.packedWidth, dtype: t.dtype as 'U8' | 'I32', shape: t.shape };
      } else this.st.add(`${layer}.${suffix}`, t.dtype, t.shape, t.data);
    }
    this.ledger.record(layer, q, report, counted, Object.keys(packed).length ? { packed } : {});
  }

  /** Writes model.safetensors, lowbit.json and the copied config/tokenizer files. */
  finish(seconds: number, summaryExtra: Record<string, unknown> = {}): LowbitManifest {
    this.st.finish({ format: 'pt', producer: `lowbit ${VERSION}` });
    for (const f of COPIED_FILES) {
      const src = joinPath(this.info.sourceDir, f);
      if (!exists(src)) continue;
      if (f === 'config.json' && this.info.config && !this.info.config.tieWordEmbeddings) {
        // A rotated model with tied embeddings stores its own LM head (arch/rotation.ts): say so.
        const raw = JSON.parse(files().readText(src));
        if (raw.tie_word_embeddings === true) {
          writeText(joinPath(this.dir, f), JSON.stringify({ ...raw, tie_word_embeddings: false }, null, 2) + '\n');
          continue;
        }
      }
      copyFile(src, joinPath(this.dir, f));
    }
    const manifest: LowbitManifest = {
      lowbit: { version: VERSION, formatVersion: MANIFEST_FORMAT_VERSION },
      description: 'lowbit quantized model: bit-packed integer tensors (codes, zeros, indices) + f16 scales; see `packed` per layer',
      method: this.info.method,
      options: this.info.options,
      source: { path: files().resolve(this.info.sourceDir), architecture: this.info.architecture },
      ...(this.info.runtime && (this.info.runtime.activation || this.info.runtime.rotation) ? { runtime: this.info.runtime } : {}),
      ...(this.info.gguf ? { gguf: this.info.gguf } : {}),
      createdAt: new Date().toISOString(),
      summary: { ...this.ledger.summary(), seconds, ...summaryExtra },
      layers: this.ledger.layers,
    };
    writeText(joinPath(this.dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    return manifest;
  }
}
