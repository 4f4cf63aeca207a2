/**
 * Writes a quantized (or float) Llama-family model as one GGUF file that llama.cpp loads: the
 * architecture's metadata, the tokenizer, lowbit's method and options under `lowbit.*`, and every
 * tensor under its GGUF name in the type the chosen mix (or single type) gives it. Block linears
 * arrive already quantized onto that type by the method (format "ggml"): their bytes are written
 * as they are, so the file holds exactly the model lowbit evaluated. Other 2-D tensors (token
 * embedding, output) are rounded here with ggml's reference quantizer, as llama-quantize does;
 * 1-D tensors are stored as F32, as llama.cpp's converter does.
 */
import { baseName, files } from '../../io/host.js';
import type { ModelConfig } from '../../arch/config.js';
import { GgufWriter, gv, type GgufValue } from '../../io/gguf.js';
import { bytesToF32, type DType } from '../../io/safetensors.js';
import { ggmlRtn, ggmlRtnOfStored, GGML_FORMAT_NAME } from '../../quant/ggml/ggml-weight.js';
import { FILE_TYPE, type MixOverrides } from '../../quant/ggml/mixes.js';
import { type GgufTarget, ggufTypeOf, targetName as nameOfTarget } from './plan.js';
import { parseLinearWeightName } from '../../arch/llama.js';
import { BLOCK_TYPES, FLOAT_TYPES } from '../../quant/ggml/registry.js';
import type { StoredWeight } from '../../quant/types.js';
import { LayerLedger } from '../ledger.js';
import { LowbitError } from '../../util/errors.js';
import { VERSION } from '../../util/version.js';
import { MANIFEST_FORMAT_VERSION, type LowbitManifest } from '../manifest.js';
import type { ModelSink } from '../sink.js';
import { architectureMetadata, ropeFactorTensors, ropeFreqFactors } from './metadata.js';
import { fusedPart, ggufName, ggufArch, permuteRows, permutedHeads } from './names.js';
import { tokenizerMetadata } from './tokenizer.js';

export interface GgufModelInfo {
  config: ModelConfig;
  sourceDir: string;
  target: GgufTarget;
  overrides: MixOverrides;
  method: string;
  options: Record<string, unknown>;
}

export class GgufModelWriter implements ModelSink {
  private readonly file: GgufWriter;
  private readonly ledger = new LayerLedger();
  private readonly typesUsed = new Map<string, number>();

  constructor(readonly path: string, private readonly info: GgufModelInfo) {
    for (const t of [info.overrides.tokenEmbeddingType, info.overrides.outputTensorType])
      if (t && !BLOCK_TYPES[t] && !FLOAT_TYPES[t]) throw new LowbitError(`unknown tensor type ${t}`);
    this.file = new GgufWriter(path);
  }

  ggmlTypeFor(name: string, shape: number[]): string {
    return ggufTypeOf(this.info.config, this.info, name, shape);
  }

  passthrough(name: string, dtype: DType, shape: number[], bytes: Uint8Array): void {
    if (!ggufName(name)) return;
    if (shape.length === 1) return this.passthroughF32(name, bytesToF32(bytes, dtype, name, this.info.sourceDir), shape);
    // Matrices (token embedding, LM head) are widened and quantized a chunk of rows at a time.
    const type = this.ggmlTypeFor(name, shape);
    this.add(name, type, shape, ggmlRtnOfStored(bytes, dtype, shape[0], shape[1], type, name, this.info.sourceDir).tensors.blocks.data as Uint8Array);
  }

  passthroughF32(name: string, data: Float32Array, shape: number[]): void {
    const g = ggufName(name);
    if (!g) return;
    if (shape.length === 1) return this.add(name, 'F32', shape, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.passthroughAs(name, this.ggmlTypeFor(name, shape), data, shape);
  }

  /** Stores a matrix in the given type (ggml's reference quantizer for block types). */
  passthroughAs(name: string, type: string, data: Float32Array, shape: number[]): void {
    if (!ggufName(name)) return;
    const q = ggmlRtn(data, shape[0], shape[1], type);
    this.add(name, type, shape, q.tensors.blocks.data as Uint8Array);
  }

  quantized(layer: string, q: StoredWeight, report?: Record<string, number | string | boolean>): void {
    if (q.format !== GGML_FORMAT_NAME) throw new LowbitError(`layer ${layer}: the method produced ${q.format}, which a GGUF file cannot hold`);
    if (q.lowRank) throw new LowbitError(`layer ${layer}: low-rank factors cannot be stored in GGUF`);
    this.add(`${layer}.weight`, String(q.params.type), [q.rows, q.cols], q.tensors.blocks.data as Uint8Array);
    // Bits per weight are over the decoder linears (an exported token embedding is written, not counted).
    this.ledger.record(layer, q, report, parseLinearWeightName(`${layer}.weight`) !== null);
  }

  /** Parts of a tensor llama.cpp keeps whole (Mixtral's experts, phi3's ffn_up) waiting for the rest: merged name -> parts. */
  private readonly pending = new Map<string, { type: string; shape: number[]; parts: (Uint8Array | undefined)[] }>();

  /**
   * One part of a merged tensor: kept until every part is there, then written whole. Parts are whole
   * ggml rows, so merging is concatenation: experts stack as [experts, rows, cols], fused linears as
   * [parts * rows, cols].
   */
  private addPart(name: string, index: number, count: number, stack: 'experts' | 'rows', type: string, shape: number[], bytes: Uint8Array): void {
    let m = this.pending.get(name);
    if (!m) this.pending.set(name, (m = { type, shape, parts: Array.from({ length: count }, () => undefined) }));
    if (m.type !== type || m.shape.some((d, i) => d !== shape[i])) throw new Error(`${name}: parts of different types or shapes`);
    m.parts[index] = bytes;
    if (m.parts.some((p) => p === undefined)) return;
    const merged = new Uint8Array(m.parts.reduce((s, p) => s + p!.byteLength, 0));
    let at = 0;
    for (const p of m.parts) {
      merged.set(p!, at);
      at += p!.byteLength;
    }
    this.pending.delete(name);
    const id = FLOAT_TYPES[type]?.id ?? BLOCK_TYPES[type].id;
    this.file.add(name, id, stack === 'experts' ? [shape[1], shape[0], count] : [shape[1], shape[0] * count], merged);
    this.typesUsed.set(type, (this.typesUsed.get(type) ?? 0) + 1);
  }

  private add(hf: string, type: string, shape: number[], bytes: Uint8Array): void {
    const g = ggufName(hf)!;
    if (g.expert !== undefined) return this.addPart(g.name, g.expert, this.info.config.moe!.experts, 'experts', type, shape, bytes);
    const fused = fusedPart(this.info.config, g);
    if (fused) return this.addPart(fused.name, fused.index, fused.count, 'rows', type, shape, bytes);
    const heads = permutedHeads(this.info.config, hf);
    const data = heads ? permuteRows(bytes, shape[0], heads, true) : bytes;
    const id = FLOAT_TYPES[type]?.id ?? BLOCK_TYPES[type].id;
    this.file.add(g.name, id, [...shape].reverse(), data);
    if (shape.length > 1) this.typesUsed.set(type, (this.typesUsed.get(type) ?? 0) + 1);
  }

  finish(seconds: number, summaryExtra: Record<string, unknown> = {}): LowbitManifest {
    const cfg = this.info.config;
    if (this.pending.size) throw new Error(`parts missing from ${[...this.pending.keys()].join(', ')}`);
    for (const [name, factors] of ropeFactorTensors(cfg)) this.file.add(name, FLOAT_TYPES.F32.id, [factors.length], new Uint8Array(factors.buffer));
    const freqs = ropeFreqFactors(cfg);
    if (freqs) this.file.add('rope_freqs.weight', FLOAT_TYPES.F32.id, [freqs.length], new Uint8Array(freqs.buffer));
    const targetName = nameOfTarget(this.info.target);
    const counts = this.ledger.summary(), bpw = counts.bitsPerWeight;
    const summary = {
      ...counts, seconds,
      gguf: { target: targetName, tensorTypes: Object.fromEntries(this.typesUsed) }, ...summaryExtra,
    };
    const meta: [string, GgufValue][] = [
      ...architectureMetadata(cfg),
      ['general.type', gv.str('model')],
      ['general.name', gv.str(baseName(files().resolve(this.info.sourceDir)))],
      ['general.quantization_version', gv.u32(2)],
      ...(FILE_TYPE[targetName] !== undefined ? [['general.file_type', gv.u32(FILE_TYPE[targetName])] as [string, GgufValue]] : []),
      ...tokenizerMetadata(this.info.sourceDir, cfg.vocabSize),
      ['lowbit.version', gv.str(VERSION)],
      ['lowbit.method', gv.str(this.info.method)],
      ['lowbit.options', gv.str(JSON.stringify(this.info.options))],
      ['lowbit.gguf_target', gv.str(targetName)],
      ['lowbit.bits_per_weight', gv.f32(bpw)],
    ];
    this.file.finish(meta);
    return {
      lowbit: { version: VERSION, formatVersion: MANIFEST_FORMAT_VERSION },
      description: `GGUF (${ggufArch(cfg)}, ${targetName}) written by lowbit`,
      method: this.info.method, options: this.info.options,
      source: { path: files().resolve(this.info.sourceDir), architecture: cfg.family },
      createdAt: new Date().toISOString(), summary, layers: this.ledger.layers,
    };
  }

  abort(): void {
    this.file.abort();
  }
}
