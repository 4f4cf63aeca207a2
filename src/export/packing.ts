/**
 * How format v2 stores a layer's integer tensors (codes, zero points, group and position indices):
 * bit-packed at the width their largest value needs, so the file's size is the bits per weight the
 * layer reports. ggml blocks are packed bytes already and float tensors stay as they are.
 *
 * The lowbit writer packs what it is given; the streaming quantizer's workers pack before sending
 * (packedWeight), so the writing thread only writes. Either way the bytes are the same.
 */
import { bitsFor, maxByte, packBits } from '../io/bitpack.js';
import { GGML_FORMAT_NAME } from '../quant/ggml/ggml-weight.js';
import type { StoredTensor, StoredWeight } from '../quant/types.js';

/** [min, max] of the values (and 0). */
function rangeOfInts(data: Int32Array): [number, number] {
  let min = 0, max = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v > max) max = v;
    else if (v < min) min = v;
  }
  return [min, max];
}

/** The tensor as the file stores it: bit-packed (packedWidth set) when that is narrower than its dtype, else itself. */
export function packTensor(t: StoredTensor, format: string): StoredTensor {
  if (t.packedWidth !== undefined || format === GGML_FORMAT_NAME) return t;
  const natural = t.dtype === 'U8' ? 8 : t.dtype === 'I32' ? 32 : 0;
  if (!natural) return t;
  const [min, max] = t.data instanceof Uint8Array ? [0, maxByte(t.data)] : rangeOfInts(t.data as Int32Array);
  const width = bitsFor(max);
  if (min < 0 || width >= natural) return t;
  return { dtype: t.dtype, shape: t.shape, data: packBits(t.data, width), packedWidth: width };
}

/** The weight with every tensor in its file form. */
export function packedWeight<W extends StoredWeight>(q: W): W {
  return { ...q, tensors: Object.fromEntries(Object.entries(q.tensors).map(([suffix, t]) => [suffix, packTensor(t, q.format)])) };
}
