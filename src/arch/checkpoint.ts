/**
 * A checkpoint as lowbit's forward passes name its tensors: the stored tensors, with each family's
 * fused matrices read as their parts (phi3.ts). Every reader of model weights opens checkpoints here.
 */
import { Checkpoint } from '../io/checkpoint.js';
import type { ModelConfig } from './config.js';
import { splitPhi3Linears } from './phi3.js';

const LAYOUTS: Partial<Record<ModelConfig['family'], (ckpt: Checkpoint, cfg: ModelConfig) => void>> = {
  phi3: splitPhi3Linears,
};

export function openModelCheckpoint(dir: string, cfg: ModelConfig): Checkpoint {
  const ckpt = Checkpoint.open(dir);
  try {
    LAYOUTS[cfg.family]?.(ckpt, cfg);
  } catch (e) {
    ckpt.close();
    throw e;
  }
  return ckpt;
}
