/** The runtime (activation quantization, rotation) shared by both quantization pipelines. */
import type { RuntimeSpec } from '../arch/llama.js';
import type { RotationPlan } from '../arch/rotation.js';
import type { ManifestRuntime } from '../export/manifest.js';

/** A plain weight-only model. */
export const NO_RUNTIME: RuntimeSpec = { activation: null, rotation: null };

/** The runtime as lowbit.json records it (with the rotation constructions used). */
export function manifestRuntime(runtime: RuntimeSpec, plan: RotationPlan | null): ManifestRuntime {
  return {
    activation: runtime.activation,
    rotation: plan ? { kind: 'hadamard', seed: plan.seed, residual: plan.residual.construction, down: plan.down.construction } : null,
  };
}

