// Memory-bound passes of the streaming quantizer over whole tensors: bf16 decoding and the scan for
// NaN/Inf. Plain loops the compiler vectorises (V8's typed-array loops run several times slower);
// results are exactly the TypeScript twins' (src/io/float.ts bf16ToF32, src/arch/layers.ts assertFinite).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace lowbit {

void bf16_to_f32(const uint16_t* src, float* out, long n) {
  uint32_t* bits = reinterpret_cast<uint32_t*>(out);
  for (long i = 0; i < n; ++i) bits[i] = static_cast<uint32_t>(src[i]) << 16;
}

long first_non_finite(const float* x, long n) {
  constexpr long BLOCK = 4096;
  for (long b = 0; b < n; b += BLOCK) {
    const long e = b + BLOCK < n ? b + BLOCK : n;
    // Exponent bits all ones = NaN or Inf; the block test vectorises, the search runs only on a hit.
    uint32_t any = 0;
    for (long i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, x + i, 4);
      any |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
    }
    if (any)
      for (long i = b; i < e; ++i)
        if (!std::isfinite(x[i])) return i;
  }
  return -1;
}

}  // namespace lowbit
