// Memory-bound elementwise kernels of the forward pass (residual add, RMSNorm, RoPE). Plain loops
// the compiler vectorises; they exist natively because V8's typed-array loops run ~10x slower.
#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "pool.h"

namespace lowbit {

namespace {
template <typename F>
void rows_parallel(long rows, long row_cost, int threads, F fn) {
  int parts = static_cast<int>(std::max(1L, std::min<long>(threads, rows * row_cost / 32768)));
  long per = (rows + parts - 1) / parts;
  parallel_for(parts, [&](int p) {
    for (long r = p * per; r < std::min(rows, (p + 1) * per); ++r) fn(r);
  });
}
}  // namespace

void add(const float* a, const float* b, float* out, long n, int threads) {
  constexpr long CHUNK = 4096;
  rows_parallel((n + CHUNK - 1) / CHUNK, CHUNK, threads, [&](long c) {
    for (long i = c * CHUNK, e = std::min(n, i + CHUNK); i < e; ++i) out[i] = a[i] + b[i];
  });
}

void rms_norm(const float* x, const float* w, float* out, long rows, long d, float eps, int threads) {
  rows_parallel(rows, d, threads, [&](long r) {
    const float* xr = x + r * d;
    float* o = out + r * d;
    double ss = 0;
    for (long j = 0; j < d; ++j) ss += static_cast<double>(xr[j]) * xr[j];
    float inv = static_cast<float>(1.0 / std::sqrt(ss / d + eps));
    for (long j = 0; j < d; ++j) o[j] = w[j] * (xr[j] * inv);
  });
}

void rope(const float* x, const float* cos, const float* sin, float* out, long rows, long seqLen,
          long heads, long hd, int threads) {
  const long half = hd / 2, width = heads * hd;
  rows_parallel(rows, width, threads, [&](long r) {
    const float* c = cos + (r % seqLen) * half;
    const float* s = sin + (r % seqLen) * half;
    for (long h = 0; h < heads; ++h) {
      const float* xi = x + r * width + h * hd;
      float* o = out + r * width + h * hd;
      for (long i = 0; i < half; ++i) {
        float x1 = xi[i], x2 = xi[half + i];
        o[i] = x1 * c[i] - x2 * s[i];
        o[half + i] = x2 * c[i] + x1 * s[i];
      }
    }
  });
}

}  // namespace lowbit

namespace lowbit {

void act_quant(const float* x, float* out, long rows, long width, int bits, double clip, bool symmetric, int threads) {
  rows_parallel(rows, width, threads, [&](long r) {
    const float* xr = x + r * width;
    float* o = out + r * width;
    float lo = 0, hi = 0;
    for (long j = 0; j < width; ++j) {
      lo = std::min(lo, xr[j]);
      hi = std::max(hi, xr[j]);
    }
    double scale, zero = 0, qmin, qmax;
    if (symmetric) {
      qmax = std::ldexp(1.0, bits - 1) - 1;
      qmin = -qmax - 1;
      scale = clip * std::max(-static_cast<double>(lo), static_cast<double>(hi)) / qmax;
    } else {
      qmin = 0;
      qmax = std::ldexp(1.0, bits) - 1;
      scale = clip * (static_cast<double>(hi) - lo) / qmax;
      if (scale > 0) zero = std::nearbyint(-clip * static_cast<double>(lo) / scale);
    }
    if (!(scale > 0)) {
      std::copy(xr, xr + width, o);
      return;
    }
    for (long j = 0; j < width; ++j) {
      double q = std::nearbyint(xr[j] / scale) + zero;  // nearbyint: ties to even in the default mode
      q = q < qmin ? qmin : q > qmax ? qmax : q;
      o[j] = static_cast<float>(scale * (q - zero));
    }
  });
}

}  // namespace lowbit
