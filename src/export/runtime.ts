/**
 * Rebuilds how a quantized model runs from its lowbit.json: activation quantization on every
 * block linear, the online rotation before down_proj, and LRC's low-rank terms. With quantized
 * activations, a layer quantized per channel runs as integer products where the backend offers
 * them (Backend.integerLinear: the GPU's int8 tensor cores); otherwise by fake quantization.
 */
import { IntegerActLinear, QuantizedActLinear, applyRuntime, linearTensors, type Model } from '../arch/layers.js';
import { architectureOf } from '../arch/architecture.js';
import { planRotation } from '../arch/rotation.js';
import type { Backend } from '../backend/index.js';
import { LowbitError } from '../util/errors.js';
import type { ModelDir } from './reader.js';

export function applyManifestRuntime(be: Backend, model: Model, dir: ModelDir): void {
  if (!dir.manifest) return;
  const rt = dir.manifest.runtime;
  const plan = rt?.rotation ? planRotation(model.config, rt.rotation.seed) : null;
  if (plan && rt?.rotation && (plan.residual.construction !== rt.rotation.residual || plan.down.construction !== rt.rotation.down))
    throw new LowbitError(`the model was rotated with ${rt.rotation.residual} / ${rt.rotation.down}, this lowbit builds ${plan.residual.construction} / ${plan.down.construction}`, dir.dir);
  const arch = architectureOf(model.config);
  const act = rt?.activation ?? null;
  model.blocks.forEach((block, layer) => {
    applyRuntime(block, act, plan?.down ?? null);
    for (const name of arch.linearNames(model.config)) {
      const weightName = arch.linearWeightName(layer, name), base = weightName.slice(0, -'.weight'.length);
      const u = `${base}.lrc_u`, v = `${base}.lrc_v`;
      if (!act && !dir.source.has(u)) continue; // as loaded (dense, or kept packed)
      const t = linearTensors(block.linears[name]);
      const lowRank = dir.source.has(u) ? { u: be.upload(dir.source.readF32(u), dir.source.shape(u)), v: be.upload(dir.source.readF32(v), dir.source.shape(v)) } : null;
      // With quantized activations, a per-channel weight runs as integers where the backend can.
      const codes = act && act.bits <= 8 && be.integerLinear && be.uploadIntegerWeight ? dir.source.readPacked?.(weightName)?.rowGrid?.() : null;
      if (codes && codes.bits <= 8) {
        be.free(t.weight);
        block.linears[name] = new IntegerActLinear(be.uploadIntegerWeight!(codes), t.bias, act!, lowRank);
      } else if (lowRank) block.linears[name] = new QuantizedActLinear(t.weight, t.bias, act, lowRank);
    }
  });
}
