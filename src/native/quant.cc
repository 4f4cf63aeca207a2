// Round-to-nearest on group-wise grids (src/quant/group-grid.ts quantizeRtn, src/quant/grid.ts
// fitGrid/encode), natively. Every operation is the TypeScript's in the same IEEE double
// arithmetic, so codes, scales and zeros are bit-identical (test/kernels.test.ts compares them):
//   - scales are rounded from double straight to the nearest f16 (as Math.f16round does), not
//     through f32, which could round twice;
//   - codes round x / s half-to-even; x * (1/s) is used first and the exact quotient only when the
//     product lies within 1e-7 of a tie: the two differ by ~1e-13 at most, so away from a tie they
//     round alike, and near one the division decides, as in TypeScript.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels.h"

namespace lowbit {

namespace {

// The f16 value nearest to x (ties to even; overflow to infinity), as a double.
double f16_round(double x) {
  if (!std::isfinite(x) || x == 0) return x;
  double a = std::fabs(x);
  double r;
  if (a >= 65520.0) {
    r = INFINITY;  // 65504 is the largest f16; the midpoint to 65536 rounds to even, past the range
  } else if (a < 6.103515625e-05) {
    r = std::nearbyint(a * 16777216.0) / 16777216.0;  // subnormals: multiples of 2^-24
  } else {
    int e;
    std::frexp(a, &e);                         // a = m 2^e, m in [0.5, 1): 11 significant bits
    double quantum = std::ldexp(1.0, e - 11);
    r = std::nearbyint(a / quantum) * quantum;
  }
  return std::copysign(r, x);
}

constexpr double kMinScale = 5.9604644775390625e-08;  // 2^-24, the smallest positive f16

double f16_scale(double s) {
  double r = f16_round(s);
  return r > 0 ? r : kMinScale;
}

struct Grid {
  double scale, zero;
};

// src/quant/grid.ts fitGrid: the grid for values spanning [lo, hi].
Grid fit_grid(double lo, double hi, int bits, bool symmetric) {
  const int maxq = (1 << bits) - 1, half = 1 << (bits - 1);
  if (symmetric) {
    double absMax = std::max(std::fabs(lo), std::fabs(hi));
    return {absMax > 0 ? f16_scale(absMax / std::max(half - 1, 1)) : 1, static_cast<double>(half)};
  }
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (hi == lo) return {1, 0};
  double scale = f16_scale((hi - lo) / maxq);
  return {scale, std::min<double>(maxq, std::max(0.0, std::nearbyint(-lo / scale)))};
}

// src/quant/grid.ts encode: x / scale rounded half to even, plus the zero, clamped. The product with
// 1/scale differs from the quotient by ~1e-13 at most, so it decides except within 1e-7 of a tie.
__attribute__((target("avx2"))) inline uint8_t encode(float x, const Grid& g, double inv, int maxq) {
  double q = x * inv, k = std::nearbyint(q);
  if (std::fabs(q - k) > 0.4999999) k = std::nearbyint(x / g.scale);
  double c = k + g.zero;
  return static_cast<uint8_t>(c < 0 ? 0 : c > maxq ? maxq : c);
}

__attribute__((target("avx2"))) void rtn_rows(const float* w, long rows, long cols, long gs, int bits, bool symmetric,
                                              uint8_t* codes, float* scales, uint8_t* zeros) {
  const long groups = (cols + gs - 1) / gs;
  const int maxq = (1 << bits) - 1;
  for (long r = 0; r < rows; ++r) {
    for (long g = 0; g < groups; ++g) {
      const long c0 = g * gs, n = std::min(gs, cols - c0);
      const float* x = w + r * cols + c0;
      float lo = INFINITY, hi = -INFINITY;
      for (long j = 0; j < n; ++j) {
        lo = std::min(lo, x[j]);
        hi = std::max(hi, x[j]);
      }
      const Grid grid = fit_grid(lo, hi, bits, symmetric);
      scales[r * groups + g] = static_cast<float>(grid.scale);
      zeros[r * groups + g] = static_cast<uint8_t>(grid.zero);
      const double inv = 1.0 / grid.scale;
      uint8_t* out = codes + r * cols + c0;
      for (long j = 0; j < n; ++j) out[j] = encode(x[j], grid, inv, maxq);
    }
  }
}

// adpq.ts bulkError: squared rounding error of the non-salient weights of x[0:n] on grid g.
__attribute__((target("avx2"), optimize("fp-contract=off"))) double bulk_error(const float* x, const uint8_t* salient, long n,
                                                                              const Grid& g, int maxq) {
  const double inv = 1.0 / g.scale;
  double e = 0;
  for (long j = 0; j < n; ++j) {
    if (salient[j]) continue;
    const double d = x[j] - g.scale * (encode(x[j], g, inv, maxq) - g.zero);
    e += d * d;
  }
  return e;
}

}  // namespace

void rtn_group_grid(const float* w, long rows, long cols, long group_size, int bits, bool symmetric,
                    uint8_t* codes, float* scales, uint8_t* zeros) {
  rtn_rows(w, rows, cols, group_size, bits, symmetric, codes, scales, zeros);
}

// src/quant/methods/adpq.ts adpqQuantize, per group: the bulk grid on the non-salient weights (or RTN's
// full-range grid when it rounds them better), the salient weights' own grid, and every code.
__attribute__((target("avx2"))) void adpq_groups(const float* w, const uint8_t* salient, long rows, long cols, long gs,
                                                 int bits, bool symmetric, bool salient_f16, uint8_t* codes, float* scales,
                                                 uint8_t* zeros, float* salient_scales, uint8_t* salient_zeros) {
  const long groups = (cols + gs - 1) / gs;
  const int maxq = (1 << bits) - 1;
  for (long r = 0; r < rows; ++r)
    for (long g = 0; g < groups; ++g) {
      const long c0 = r * cols + g * gs, n = std::min(gs, cols - g * gs);
      const float* x = w + c0;
      const uint8_t* m = salient + c0;
      float lo = INFINITY, hi = -INFINITY, slo = INFINITY, shi = -INFINITY;
      long ns = 0;
      for (long j = 0; j < n; ++j) {
        if (m[j]) {
          ++ns;
          slo = std::min(slo, x[j]);
          shi = std::max(shi, x[j]);
        } else {
          lo = std::min(lo, x[j]);
          hi = std::max(hi, x[j]);
        }
      }
      Grid bulk = ns == n ? fit_grid(0, 0, bits, symmetric) : fit_grid(lo, hi, bits, symmetric);
      if (ns > 0 && ns < n) {
        const Grid full = fit_grid(std::min(lo, slo), std::max(hi, shi), bits, symmetric);
        if (bulk_error(x, m, n, full, maxq) < bulk_error(x, m, n, bulk, maxq)) bulk = full;
      }
      scales[r * groups + g] = static_cast<float>(bulk.scale);
      zeros[r * groups + g] = static_cast<uint8_t>(bulk.zero);
      const bool own = ns > 0 && !salient_f16;
      Grid out{0, 0};
      if (own) {
        out = fit_grid(slo, shi, bits, symmetric);
        salient_scales[r * groups + g] = static_cast<float>(out.scale);
        salient_zeros[r * groups + g] = static_cast<uint8_t>(out.zero);
      }
      const double inv = 1.0 / bulk.scale, sinv = own ? 1.0 / out.scale : 0;
      for (long j = 0; j < n; ++j) {
        if (!m[j]) codes[c0 + j] = encode(x[j], bulk, inv, maxq);
        else if (own) codes[c0 + j] = encode(x[j], out, sinv, maxq);
      }
    }
}

// src/quant/select.ts topKByMagnitude: exactly k entries of largest |w| marked (ties at the threshold
// by position), by a two-pass radix select on |w|'s bit pattern; returns the threshold's bits.
uint32_t top_k_by_magnitude(const float* w, long n, long k, uint8_t* mask) {
  std::fill(mask, mask + n, 0);
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(w);
  std::vector<uint32_t> hist(65536, 0);
  for (long i = 0; i < n; ++i) ++hist[(bits[i] & 0x7fffffffu) >> 16];
  long above = 0, hi = 65535;
  while (above + static_cast<long>(hist[hi]) < k) above += hist[hi--];
  std::fill(hist.begin(), hist.end(), 0);
  for (long i = 0; i < n; ++i) {
    const uint32_t b = bits[i] & 0x7fffffffu;
    if (static_cast<long>(b >> 16) == hi) ++hist[b & 0xffff];
  }
  long lo = 65535;
  while (above + static_cast<long>(hist[lo]) < k) above += hist[lo--];
  const uint32_t t = static_cast<uint32_t>((hi << 16) | lo);
  long ties = k - above;
  for (long i = 0; i < n; ++i) {
    const uint32_t b = bits[i] & 0x7fffffffu;
    if (b > t) mask[i] = 1;
    else if (b == t && ties > 0) {
      mask[i] = 1;
      --ties;
    }
  }
  return t;
}

}  // namespace lowbit

namespace lowbit {

void dequantize_group_grid(const uint8_t* codes, const float* scales, const uint8_t* zeros, long rows, long cols,
                           long group_size, float* out) {
  const long groups = (cols + group_size - 1) / group_size;
  for (long r = 0; r < rows; ++r)
    for (long g = 0; g < groups; ++g) {
      const float s = scales[r * groups + g];
      const float z = zeros[r * groups + g];
      const long c0 = g * group_size, c1 = std::min(cols, c0 + group_size);
      // s * (code - z) rounded once to f32, as the TypeScript's double product stored in a
      // Float32Array: code - z is exact, and the exact product rounds to the same f32 either way.
      for (long c = c0; c < c1; ++c) out[r * cols + c] = s * (static_cast<float>(codes[r * cols + c]) - z);
    }
}

__attribute__((optimize("fp-contract=off"))) void squared_error_sums(const float* w, const float* q, long n, double* err, double* norm) {
  double num = 0, den = 0;
  for (long i = 0; i < n; ++i) {
    const double d = static_cast<double>(w[i]) - q[i];
    num += d * d;
    den += static_cast<double>(w[i]) * w[i];
  }
  *err = num;
  *norm = den;
}

}  // namespace lowbit
