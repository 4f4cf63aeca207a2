/** The runtime (activation quantization, rotation) shared by both quantization pipelines. */
import type { RuntimeSpec } from '../arch/layers.js';
import type { ModelConfig } from '../arch/config.js';
import { LM_HEAD, RotatedSource, planRotation, type RotationPlan } from '../arch/rotation.js';
import type { ManifestRuntime } from '../export/manifest.js';
import type { Checkpoint } from '../io/checkpoint.js';
import type { TensorSource } from '../io/tensor-source.js';
import { architectureOf } from '../arch/architecture.js';
import { LowbitError } from '../util/errors.js';

/** A plain weight-only model. */
export const NO_RUNTIME: RuntimeSpec = { activation: null, rotation: null };

/** The runtime as lowbit.json records it (with the rotation constructions used). */
export function manifestRuntime(runtime: RuntimeSpec, plan: RotationPlan | null): ManifestRuntime {
  return {
    activation: runtime.activation,
    rotation: plan ? { kind: 'hadamard', seed: plan.seed, residual: plan.residual.construction, down: plan.down.construction } : null,
  };
}


/**
 * The rotation plan of a runtime (if it rotates), the weights every step then sees, and the model
 * they make: its config and tensor names. Rotating a model with tied embeddings unties them (the
 * rotated LM head is a tensor of its own, see RotatedSource), so the output's config says so and
 * its tensors include lm_head.weight.
 */
export function runtimeSource(ckpt: Checkpoint, cfg: ModelConfig, runtime: RuntimeSpec): { plan: RotationPlan | null; source: TensorSource; config: ModelConfig; names: string[] } {
  if (runtime.rotation && architectureOf(cfg).downProjection === null)
    throw new LowbitError(`rotation (QuaRot) is implemented for the Llama family (RMSNorm); ${cfg.family} models cannot be rotated`, ckpt.dir);
  if (runtime.rotation && cfg.moe)
    throw new LowbitError('rotation (QuaRot) of a mixture-of-experts model is not supported yet (each expert\'s w2 would need the online rotation)', ckpt.dir);
  const plan = runtime.rotation ? planRotation(cfg, runtime.rotation.seed) : null;
  if (!plan) return { plan, source: ckpt, config: cfg, names: ckpt.names() };
  const untie = cfg.tieWordEmbeddings;
  return {
    plan, source: new RotatedSource(ckpt, cfg, plan),
    config: untie ? { ...cfg, tieWordEmbeddings: false } : cfg,
    names: untie ? [...ckpt.names(), LM_HEAD] : ckpt.names(),
  };
}
