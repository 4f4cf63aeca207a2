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

__attribute__((target("avx2"))) void rtn_rows(const float* w, long rows, long cols, long gs, int bits, bool symmetric,
                                              uint8_t* codes, float* scales, uint8_t* zeros) {
  const long groups = (cols + gs - 1) / gs;
  const int maxq = (1 << bits) - 1;
  const int half = 1 << (bits - 1);
  for (long r = 0; r < rows; ++r) {
    for (long g = 0; g < groups; ++g) {
      const long c0 = g * gs, n = std::min(gs, cols - c0);
      const float* x = w + r * cols + c0;
      float lo = INFINITY, hi = -INFINITY;
      for (long j = 0; j < n; ++j) {
        lo = std::min(lo, x[j]);
        hi = std::max(hi, x[j]);
      }
      double scale, zero;
      if (symmetric) {
        double absMax = std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
        scale = absMax > 0 ? f16_scale(absMax / std::max(half - 1, 1)) : 1;
        zero = half;
      } else {
        double l = std::min(static_cast<double>(lo), 0.0), h = std::max(static_cast<double>(hi), 0.0);
        if (h == l) {
          scale = 1;
          zero = 0;
        } else {
          scale = f16_scale((h - l) / maxq);
          zero = std::min<double>(maxq, std::max(0.0, std::nearbyint(-l / scale)));
        }
      }
      scales[r * groups + g] = static_cast<float>(scale);
      zeros[r * groups + g] = static_cast<uint8_t>(zero);
      const double inv = 1.0 / scale;
      uint8_t* out = codes + r * cols + c0;
      for (long j = 0; j < n; ++j) {
        double q = x[j] * inv, k = std::nearbyint(q);
        if (std::fabs(q - k) > 0.4999999) k = std::nearbyint(x[j] / scale);  // near a tie: the exact quotient
        double c = k + zero;
        out[j] = static_cast<uint8_t>(c < 0 ? 0 : c > maxq ? maxq : c);
      }
    }
  }
}

}  // namespace

void rtn_group_grid(const float* w, long rows, long cols, long group_size, int bits, bool symmetric,
                    uint8_t* codes, float* scales, uint8_t* zeros) {
  rtn_rows(w, rows, cols, group_size, bits, symmetric, codes, scales, zeros);
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
