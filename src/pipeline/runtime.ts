/** The runtime (activation quantization, rotation) shared by both quantization pipelines. */
import type { RuntimeSpec } from '../arch/llama.js';
import type { ModelConfig } from '../arch/config.js';
import { RotatedSource, planRotation, type RotationPlan } from '../arch/rotation.js';
import type { ManifestRuntime } from '../export/manifest.js';
import type { Checkpoint } from '../io/checkpoint.js';
import type { TensorSource } from '../io/tensor-source.js';

/** A plain weight-only model. */
export const NO_RUNTIME: RuntimeSpec = { activation: null, rotation: null };

/** The runtime as lowbit.json records it (with the rotation constructions used). */
export function manifestRuntime(runtime: RuntimeSpec, plan: RotationPlan | null): ManifestRuntime {
  return {
    activation: runtime.activation,
    rotation: plan ? { kind: 'hadamard', seed: plan.seed, residual: plan.residual.construction, down: plan.down.construction } : null,
  };
}


/** The rotation plan of a runtime (if it rotates) and the weights every step then sees. */
export function runtimeSource(ckpt: Checkpoint, cfg: ModelConfig, runtime: RuntimeSpec): { plan: RotationPlan | null; source: TensorSource } {
  const plan = runtime.rotation ? planRotation(cfg, runtime.rotation.seed) : null;
  return { plan, source: plan ? new RotatedSource(ckpt, cfg, plan) : ckpt };
}
