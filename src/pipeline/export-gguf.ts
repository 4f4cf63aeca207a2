/**
 * `lowbit export`: a lowbit directory into one GGUF file, without changing a weight. Layers already
 * on ggml grids (quantized with a GGUF target into a directory) are written as stored; lowbit group
 * grids that are exactly a ggml type (from-group-grid.ts) are re-encoded; everything a GGUF file
 * cannot hold is refused with its reason: activation quantization and online rotations (runtime),
 * LRC's low-rank factors, AdpQ's salient-weight side channel, QuantEase's sparse outliers.
 * Other tensors follow the directory's GGUF target, or keep their stored dtype.
 */
import type { LowbitManifest } from '../export/manifest.js';
import { layerTensors, openModelDir, type ModelDir } from '../export/reader.js';
import { openModelCheckpoint } from '../arch/checkpoint.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { checkGgufExportable } from '../export/gguf/names.js';
import { writeFileAtomically } from './atomic.js';
import { GROUP_GRID_FORMAT, groupGridFromTensors } from '../quant/group-grid.js';
import { GGML_FORMAT_NAME, ggmlWeight } from '../quant/ggml/ggml-weight.js';
import { ggmlTypeOfGroupGrid, groupGridToGgml } from '../quant/ggml/from-group-grid.js';
import type { MixOverrides } from '../quant/ggml/mixes.js';
import { LowbitError } from '../util/errors.js';
import { GgufModelWriter } from '../export/gguf/writer.js';
import { parseLinearWeightName } from '../arch/llama.js';

const WHY_NOT: Record<string, string> = {
  adpq: "AdpQ's salient weights live on a second grid with a position mask, which no ggml type stores",
  'group-grid+sparse': "QuantEase's full-precision sparse outliers have no place in a ggml type",
};

export async function exportGguf(dir: string, out: string, o: { overrides: MixOverrides; force?: boolean }): Promise<LowbitManifest> {
  const model = openModelDir(dir);
  const m = model.manifest;
  try {
    if (!m) throw new LowbitError('not a lowbit-quantized directory (no lowbit.json); use `lowbit quantize --gguf` on a checkpoint', dir);
    if (m.runtime?.activation) throw new LowbitError(`activation quantization (${m.runtime.activation.bits}-bit) cannot be stored in GGUF: llama.cpp runs weights only`, dir);
    if (m.runtime?.rotation) throw new LowbitError('the model needs an online Hadamard rotation before down_proj, which GGUF cannot express', dir);
    checkGgufExportable(model.config, dir);
  } catch (e) {
    model.close();
    throw e;
  }
  const ckpt = openModelCheckpoint(dir, model.config);
  try {
    return await writeFileAtomically(out, async (tmp) => {
      // Without a GGUF target, non-linear matrices keep their stored dtype (unless an override names one).
      const target = m.gguf ?? { target: { type: 'BF16' }, overrides: {} };
      const sink = new GgufModelWriter(tmp, {
        config: model.config, sourceDir: dir, target: target.target, overrides: { ...target.overrides, ...o.overrides },
        method: m.method, options: { ...m.options, exportedFrom: dir },
      });
      try {
        writeTensors(sink, model, ckpt, m, !m.gguf, o.overrides);
        return sink.finish(m.summary.seconds, { exportedFrom: dir });
      } catch (err) {
        sink.abort();
        throw err;
      }
    }, { overwrite: o.force, inputs: [dir] });
  } finally {
    ckpt.close();
    model.close();
  }
}

function writeTensors(sink: GgufModelWriter, model: ModelDir, ckpt: Checkpoint, m: LowbitManifest, keepDtypes: boolean, overrides: MixOverrides): void {
  const dir = model.dir;
  const layers = Object.keys(m.layers);
  for (const name of ckpt.names()) {
    if (layers.some((l) => name.startsWith(`${l}.`))) continue; // written with its layer below
    const info = ckpt.info(name);
    if (keepDtypes && info.shape.length === 2 && !parseLinearWeightName(name)) {
      const type = overrides.tokenEmbeddingType && name === 'model.embed_tokens.weight' ? overrides.tokenEmbeddingType
        : overrides.outputTensorType && name === 'lm_head.weight' ? overrides.outputTensorType : info.dtype;
      sink.passthroughAs(name, type, model.source.readF32(name), info.shape);
    } else sink.passthrough(name, info.dtype, info.shape, ckpt.readBytes(name));
  }
  for (const [layer, e] of Object.entries(m.layers)) {
    const tensors = layerTensors(ckpt, layer, e);
    if (e.format === GGML_FORMAT_NAME) {
      sink.quantized(layer, ggmlWeight(String(e.params.type), tensors.blocks.data as Uint8Array, e.rows, e.cols), e.report);
      continue;
    }
    if (tensors.lrc_u) throw new LowbitError(`layer ${layer}: LRC's low-rank factors U V^T act on the unquantized input, which GGUF cannot express`, dir);
    if (e.format !== GROUP_GRID_FORMAT.name) throw new LowbitError(`layer ${layer}: ${WHY_NOT[e.format] ?? `format ${e.format} has no ggml type`}`, dir);
    const grid = groupGridFromTensors(tensors, e.params, e.rows, e.cols);
    const type = ggmlTypeOfGroupGrid(grid);
    if (typeof type !== 'string') throw new LowbitError(`layer ${layer}: ${type.reason}`, dir);
    let bytes: Uint8Array;
    try {
      bytes = groupGridToGgml(grid, type);
    } catch (err) {
      throw new LowbitError(`layer ${layer}: ${(err as Error).message}`, dir);
    }
    sink.quantized(layer, ggmlWeight(type, bytes, e.rows, e.cols), e.report);
  }
}
