/**
 * Buffers reused from one tensor to the next. A streaming quantizer's worker reads, widens and
 * decodes tensors of a handful of shapes thousands of times; fresh arrays each time cost page faults
 * on first touch and a garbage collector that falls behind (measured on a 7B run: more time than
 * the quantization itself). A view handed out stays valid until the same role is asked for again.
 */
export class Scratch {
  private readonly buffers = new Map<string, ArrayBuffer>();

  /** `byteLength` bytes for `role`, grown (never shrunk) as larger tensors come. */
  private buffer(role: string, byteLength: number): ArrayBuffer {
    let b = this.buffers.get(role);
    if (!b || b.byteLength < byteLength) this.buffers.set(role, (b = new ArrayBuffer(byteLength)));
    return b;
  }

  bytes(role: string, n: number): Uint8Array {
    return new Uint8Array(this.buffer(role, n), 0, n);
  }

  f32(role: string, n: number): Float32Array {
    return new Float32Array(this.buffer(role, 4 * n), 0, n);
  }
}
