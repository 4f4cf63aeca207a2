import type { PackedTensor, TensorSource } from './tensor-source.js';

/**
 * A TensorSource that serves tensors read ahead of time: `prefetch(name)` reads one (as stored when
 * the source keeps it packed, else as f32) and the next read of that name takes it from memory,
 * once. Calibration reads the next block's weights this way, one tensor between two turns of the
 * device's work, instead of all at once while the device waits.
 */
export class PrefetchedSource implements TensorSource {
  private readonly ahead = new Map<string, { packed: PackedTensor } | { f32: Float32Array }>();

  constructor(private readonly src: TensorSource) {}

  get dir(): string {
    return this.src.dir;
  }

  prefetch(name: string): void {
    const packed = this.src.readPacked?.(name);
    this.ahead.set(name, packed ? { packed } : { f32: this.src.readF32(name) });
  }

  has(name: string): boolean {
    return this.src.has(name);
  }

  shape(name: string): number[] {
    return this.src.shape(name);
  }

  fileOf(name: string): string {
    return this.src.fileOf(name);
  }

  readF32(name: string): Float32Array {
    const read = this.take(name);
    if (!read) return this.src.readF32(name);
    return 'f32' in read ? read.f32 : read.packed.decode();
  }

  readPacked(name: string): PackedTensor | null {
    const read = this.ahead.get(name);
    if (!read) return this.src.readPacked?.(name) ?? null;
    if (!('packed' in read)) return null; // stored dense: readF32 takes it
    this.ahead.delete(name);
    return read.packed;
  }

  private take(name: string) {
    const read = this.ahead.get(name);
    this.ahead.delete(name);
    return read;
  }
}
