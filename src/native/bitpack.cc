// Bit-packing of byte values (src/io/bitpack.ts packBits for Uint8Array input, widths 1..8) and the
// largest byte of an array (the width a tensor is packed at). The bit stream is the TypeScript's:
// value i in bits [i*width, (i+1)*width), least significant bit first. A 64-bit accumulator takes
// whole values and hands out four bytes at a time; the tail flushes what is left.
#include <cstdint>

#include "kernels.h"

namespace lowbit {

void pack_bits_u8(const uint8_t* values, long n, int width, uint8_t* out) {
  uint64_t acc = 0;
  int held = 0;
  long o = 0;
  for (long i = 0; i < n; ++i) {
    acc |= static_cast<uint64_t>(values[i]) << held;  // held < 32 and width <= 8: fits in 40 bits
    held += width;
    if (held >= 32) {
      out[o++] = static_cast<uint8_t>(acc);
      out[o++] = static_cast<uint8_t>(acc >> 8);
      out[o++] = static_cast<uint8_t>(acc >> 16);
      out[o++] = static_cast<uint8_t>(acc >> 24);
      acc >>= 32;
      held -= 32;
    }
  }
  for (; held > 0; held -= 8) {
    out[o++] = static_cast<uint8_t>(acc);
    acc >>= 8;
  }
}

uint8_t max_u8(const uint8_t* values, long n) {
  uint8_t m = 0;
  for (long i = 0; i < n; ++i) m = values[i] > m ? values[i] : m;  // a reduction the compiler vectorises
  return m;
}

}  // namespace lowbit
