/** Copying unquantized tensors (embeddings, norms, LM head) into a quantized model. */
import type { ModelSink } from '../export/sink.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { bytesToF32, firstNonFinite } from '../io/safetensors.js';
import { assertFinite, readFinite } from '../arch/layers.js';
import type { TensorSource } from '../io/tensor-source.js';

/**
 * Reads `name` once, rejects NaN/Inf (with the same message as for quantized tensors), writes it:
 * the stored bytes as they are, or, when `source` is a transformed view of the checkpoint (a
 * rotated model), its values as F32.
 */
export function copyTensor(ckpt: Checkpoint, writer: ModelSink, name: string, source: TensorSource = ckpt): void {
  if (source !== ckpt) return writer.passthroughF32(name, readFinite(source, name), source.shape(name));
  const info = ckpt.info(name);
  const bytes = ckpt.readBytes(name);
  if (firstNonFinite(bytes, info.dtype) >= 0) assertFinite(bytesToF32(bytes.slice(), info.dtype, name, info.file), name, info.file);
  writer.passthrough(name, info.dtype, info.shape, bytes);
}
