/** Where a model's f32 weights come from: a checkpoint, or a quantized model that dequantizes. */
export interface TensorSource {
  /** Directory the tensors come from (for error messages). */
  readonly dir: string;
  has(name: string): boolean;
  shape(name: string): number[];
  /** The file holding `name` (for error messages). */
  fileOf(name: string): string;
  readF32(name: string): Float32Array;
}
