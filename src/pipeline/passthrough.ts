/** Copying unquantized tensors (embeddings, norms, LM head) into a quantized model, as stored. */
import type { QuantizedModelWriter } from '../export/writer.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { bytesToF32, firstNonFinite } from '../io/safetensors.js';
import { assertFinite } from '../arch/llama.js';

/** Reads `name` once, rejects NaN/Inf (with the same message as for quantized tensors), writes it. */
export function copyTensor(ckpt: Checkpoint, writer: QuantizedModelWriter, name: string): void {
  const info = ckpt.info(name);
  const bytes = ckpt.readBytes(name);
  if (firstNonFinite(bytes, info.dtype) >= 0) assertFinite(bytesToF32(bytes.slice(), info.dtype, name, info.file), name, info.file);
  writer.passthrough(name, info.dtype, info.shape, bytes);
}
