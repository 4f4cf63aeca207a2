/**
 * Rebuilds how a quantized model runs from its lowbit.json: activation quantization on every
 * block linear, the online rotation before down_proj, and LRC's low-rank terms.
 */
import { QuantizedActLinear, applyRuntime, linearTensors, type Model } from '../arch/layers.js';
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
  model.blocks.forEach((block, layer) => {
    applyRuntime(block, rt?.activation ?? null, plan?.down ?? null);
    for (const name of arch.linearNames(model.config)) {
      const base = arch.linearWeightName(layer, name).slice(0, -'.weight'.length);
      const u = `${base}.lrc_u`, v = `${base}.lrc_v`;
      if (!dir.source.has(u)) continue;
      const t = linearTensors(block.linears[name]);
      const lowRank = { u: be.upload(dir.source.readF32(u), dir.source.shape(u)), v: be.upload(dir.source.readF32(v), dir.source.shape(v)) };
      block.linears[name] = new QuantizedActLinear(t.weight, t.bias, rt?.activation ?? null, lowRank);
    }
  });
}
