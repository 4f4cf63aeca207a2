// Round-to-nearest on group-wise grids (src/quant/group-grid.ts quantizeRtn, src/quant/grid.ts
// fitGrid/encode), natively. Every operation is the TypeScript's in the same IEEE double
// arithmetic, so codes, scales and zeros are bit-identical (test/kernels.test.ts compares them):
//   - scales are rounded from double straight to the nearest f16 (as Math.f16round does), not
//     through f32, which could round twice;
//   - codes round x / s half-to-even; x * (1/s) is used first and the exact quotient only when the
//     product lies within 1e-7 of a tie: the two differ by ~1e-13 at most, so away from a tie they
//     round alike, and near one the division decides, as in TypeScript.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels.h"

namespace lowbit {

namespace {

// v rounded to the nearest integer, ties to even: std::nearbyint under the default rounding mode,
// without the library call (the grid fits run once per group, and calls there cost as much as the
// group's codes). Adding and subtracting 2^52 leaves exactly the rounded integer for |v| < 2^52.
inline double round_even(double v) {
  constexpr double kTwo52 = 4503599627370496.0;
  const double a = std::fabs(v);
  if (!(a < kTwo52)) return v;  // already an integer (or NaN)
  return std::copysign((a + kTwo52) - kTwo52, v);
}

// The f16 value nearest to x (ties to even; overflow to infinity), as a double.
double f16_round(double x) {
  if (!std::isfinite(x) || x == 0) return x;
  double a = std::fabs(x);
  double r;
  if (a >= 65520.0) {
    r = INFINITY;  // 65504 is the largest f16; the midpoint to 65536 rounds to even, past the range
  } else if (a < 6.103515625e-05) {
    r = round_even(a * 16777216.0) / 16777216.0;  // subnormals: multiples of 2^-24
  } else {
    // a = 1.f 2^e with f16's 10 fraction bits: the quantum is 2^(e-10), a power of two built from the
    // exponent field (scaling by it is exact).
    uint64_t bits;
    std::memcpy(&bits, &a, 8);
    const int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
    const uint64_t quantum_bits = static_cast<uint64_t>(e - 10 + 1023) << 52, inverse_bits = static_cast<uint64_t>(10 - e + 1023) << 52;
    double quantum, inverse;
    std::memcpy(&quantum, &quantum_bits, 8);
    std::memcpy(&inverse, &inverse_bits, 8);
    r = round_even(a * inverse) * quantum;
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
  return {scale, std::min<double>(maxq, std::max(0.0, round_even(-lo / scale)))};
}

// src/quant/grid.ts encode: x / scale rounded half to even, plus the zero, clamped. The product with
// 1/scale differs from the quotient by ~1e-13 at most, so it decides except within 1e-7 of a tie.
inline uint8_t encode(float x, const Grid& g, double inv, int maxq) {
  double q = x * inv, k = round_even(q);
  if (std::fabs(q - k) > 0.4999999) k = round_even(x / g.scale);
  double c = k + g.zero;
  return static_cast<uint8_t>(c < 0 ? 0 : c > maxq ? maxq : c);
}

// encode() of x[0:n] into out, four lanes at a time: the same double operations lane by lane
// (cvtps_pd is exact, round_pd to nearest is nearbyint under the default rounding mode), and lanes
// near a tie take the scalar division.
__attribute__((target("avx2"))) void encode_run_avx2(const float* x, long n, const Grid& g, double inv, int maxq, uint8_t* out) {
  const __m256d vinv = _mm256_set1_pd(inv), vzero_point = _mm256_set1_pd(g.zero), vmaxq = _mm256_set1_pd(maxq);
  const __m256d zero = _mm256_setzero_pd(), near_tie = _mm256_set1_pd(0.4999999);
  const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
  long j = 0;
  for (; j + 4 <= n; j += 4) {
    const __m256d xd = _mm256_cvtps_pd(_mm_loadu_ps(x + j));
    const __m256d q = _mm256_mul_pd(xd, vinv);
    __m256d k = _mm256_round_pd(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const int near = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_and_pd(_mm256_sub_pd(q, k), abs_mask), near_tie, _CMP_GT_OQ));
    if (near) {
      alignas(32) double kk[4];
      _mm256_store_pd(kk, k);
      for (int l = 0; l < 4; ++l)
        if ((near >> l) & 1) kk[l] = round_even(x[j + l] / g.scale);
      k = _mm256_load_pd(kk);
    }
    const __m256d c = _mm256_min_pd(_mm256_max_pd(_mm256_add_pd(k, vzero_point), zero), vmaxq);
    const __m128i c32 = _mm256_cvtpd_epi32(c);  // integers in [0, maxq]: exact
    const uint32_t four = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(_mm_packus_epi32(c32, c32), c32)));
    std::memcpy(out + j, &four, 4);
  }
  for (; j < n; ++j) out[j] = encode(x[j], g, inv, maxq);
}

void encode_run(const float* x, long n, const Grid& g, double inv, int maxq, uint8_t* out) {
  if (simd_available()) return encode_run_avx2(x, n, g, inv, maxq, out);
  for (long j = 0; j < n; ++j) out[j] = encode(x[j], g, inv, maxq);
}

// min and max of x[0:n] (min/max are exact, so the order of the comparisons does not matter; the
// sign of a zero bound can differ, which fit_grid never sees: it clamps the range to include 0).
__attribute__((target("avx2"))) void range_avx2(const float* x, long n, float* lo, float* hi) {
  __m256 vlo = _mm256_set1_ps(INFINITY), vhi = _mm256_set1_ps(-INFINITY);
  long j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    vlo = _mm256_min_ps(vlo, v);
    vhi = _mm256_max_ps(vhi, v);
  }
  alignas(32) float l[8], h[8];
  _mm256_store_ps(l, vlo);
  _mm256_store_ps(h, vhi);
  float a = INFINITY, b = -INFINITY;
  for (int i = 0; i < 8; ++i) a = std::min(a, l[i]), b = std::max(b, h[i]);
  for (; j < n; ++j) a = std::min(a, x[j]), b = std::max(b, x[j]);
  *lo = a;
  *hi = b;
}

void range(const float* x, long n, float* lo, float* hi) {
  if (simd_available()) return range_avx2(x, n, lo, hi);
  float a = INFINITY, b = -INFINITY;
  for (long j = 0; j < n; ++j) a = std::min(a, x[j]), b = std::max(b, x[j]);
  *lo = a;
  *hi = b;
}

// The ranges of x[0:n]'s non-salient (m = 0) and salient (m = 1) values, and how many are salient.
struct SplitRanges {
  float lo = INFINITY, hi = -INFINITY, slo = INFINITY, shi = -INFINITY;
  long salient = 0;
};

__attribute__((target("avx2"))) SplitRanges split_ranges_avx2(const float* x, const uint8_t* m, long n) {
  const __m256 inf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
  __m256 lo = inf, hi = ninf, slo = inf, shi = ninf;
  __m256i count = _mm256_setzero_si256();
  long j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    const __m256i m32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m + j)));
    const __m256 is = _mm256_castsi256_ps(_mm256_cmpgt_epi32(m32, _mm256_setzero_si256()));
    lo = _mm256_min_ps(lo, _mm256_blendv_ps(v, inf, is));
    hi = _mm256_max_ps(hi, _mm256_blendv_ps(v, ninf, is));
    slo = _mm256_min_ps(slo, _mm256_blendv_ps(inf, v, is));
    shi = _mm256_max_ps(shi, _mm256_blendv_ps(ninf, v, is));
    count = _mm256_sub_epi32(count, _mm256_castps_si256(is));  // is = -1 where salient
  }
  alignas(32) float a[8], b[8], c[8], d[8];
  alignas(32) int32_t k[8];
  _mm256_store_ps(a, lo), _mm256_store_ps(b, hi), _mm256_store_ps(c, slo), _mm256_store_ps(d, shi);
  _mm256_store_si256(reinterpret_cast<__m256i*>(k), count);
  SplitRanges r;
  for (int i = 0; i < 8; ++i) {
    r.lo = std::min(r.lo, a[i]), r.hi = std::max(r.hi, b[i]), r.slo = std::min(r.slo, c[i]), r.shi = std::max(r.shi, d[i]);
    r.salient += k[i];
  }
  for (; j < n; ++j) {
    if (m[j]) ++r.salient, r.slo = std::min(r.slo, x[j]), r.shi = std::max(r.shi, x[j]);
    else r.lo = std::min(r.lo, x[j]), r.hi = std::max(r.hi, x[j]);
  }
  return r;
}

SplitRanges split_ranges(const float* x, const uint8_t* m, long n) {
  if (simd_available()) return split_ranges_avx2(x, m, n);
  SplitRanges r;
  for (long j = 0; j < n; ++j) {
    if (m[j]) ++r.salient, r.slo = std::min(r.slo, x[j]), r.shi = std::max(r.shi, x[j]);
    else r.lo = std::min(r.lo, x[j]), r.hi = std::max(r.hi, x[j]);
  }
  return r;
}

void rtn_rows(const float* w, long rows, long cols, long gs, int bits, bool symmetric, uint8_t* codes, float* scales, uint8_t* zeros) {
  const long groups = (cols + gs - 1) / gs;
  const int maxq = (1 << bits) - 1;
  for (long r = 0; r < rows; ++r) {
    for (long g = 0; g < groups; ++g) {
      const long c0 = g * gs, n = std::min(gs, cols - c0);
      const float* x = w + r * cols + c0;
      float lo, hi;
      range(x, n, &lo, &hi);
      const Grid grid = fit_grid(lo, hi, bits, symmetric);
      scales[r * groups + g] = static_cast<float>(grid.scale);
      zeros[r * groups + g] = static_cast<uint8_t>(grid.zero);
      encode_run(x, n, grid, 1.0 / grid.scale, maxq, codes + r * cols + c0);
    }
  }
}

// adpq.ts bulkError for two grids at once: the squared rounding errors of the non-salient weights of
// x[0:n] on grids a and b, each summed in index order, as the TypeScript sums them; only which is
// smaller matters. `ca`, `cb`: n bytes of scratch for the codes.
__attribute__((optimize("fp-contract=off"))) std::pair<double, double> bulk_errors_in_order(const float* x, const uint8_t* salient, long n,
                                                                                            const Grid& a, const Grid& b, const uint8_t* ca,
                                                                                            const uint8_t* cb) {
  double ea = 0, eb = 0;
  for (long j = 0; j < n; ++j) {
    if (salient[j]) continue;
    const double da = x[j] - a.scale * (ca[j] - a.zero), db = x[j] - b.scale * (cb[j] - b.zero);
    ea += da * da;
    eb += db * db;
  }
  return {ea, eb};
}

// The same terms summed four lanes at a time (another order, so other roundings). Sums of n
// non-negative terms in any order are within n u (1 + n u) of the exact sum (u = 2^-53), so when the
// lane sums differ by more than 4 n u (ea + eb), the in-order sums compare the same way.
__attribute__((target("avx2"), optimize("fp-contract=off"))) std::pair<double, double> bulk_errors_lanes(const float* x, const uint8_t* salient, long n,
                                                                                                          const Grid& a, const Grid& b,
                                                                                                          const uint8_t* ca, const uint8_t* cb) {
  const __m256d sa_scale = _mm256_set1_pd(a.scale), sa_zero = _mm256_set1_pd(a.zero), sb_scale = _mm256_set1_pd(b.scale), sb_zero = _mm256_set1_pd(b.zero);
  __m256d ea = _mm256_setzero_pd(), eb = _mm256_setzero_pd();
  long j = 0;
  const auto four = [](const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm_cvtsi32_si128(v);
  };
  for (; j + 4 <= n; j += 4) {
    const __m256d xd = _mm256_cvtps_pd(_mm_loadu_ps(x + j));
    const __m256d keep = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_cvtepu8_epi64(four(salient + j)), _mm256_setzero_si256()));
    const __m256d da = _mm256_sub_pd(xd, _mm256_mul_pd(sa_scale, _mm256_sub_pd(_mm256_cvtepi32_pd(_mm_cvtepu8_epi32(four(ca + j))), sa_zero)));
    const __m256d db = _mm256_sub_pd(xd, _mm256_mul_pd(sb_scale, _mm256_sub_pd(_mm256_cvtepi32_pd(_mm_cvtepu8_epi32(four(cb + j))), sb_zero)));
    ea = _mm256_add_pd(ea, _mm256_and_pd(_mm256_mul_pd(da, da), keep));
    eb = _mm256_add_pd(eb, _mm256_and_pd(_mm256_mul_pd(db, db), keep));
  }
  alignas(32) double la[4], lb[4];
  _mm256_store_pd(la, ea);
  _mm256_store_pd(lb, eb);
  const auto [ta, tb] = bulk_errors_in_order(x + j, salient + j, n - j, a, b, ca + j, cb + j);
  return {(la[0] + la[1]) + (la[2] + la[3]) + ta, (lb[0] + lb[1]) + (lb[2] + lb[3]) + tb};
}

// Whether grid a rounds the non-salient weights of x[0:n] strictly better than grid b, decided as
// the in-order sums decide it.
bool rounds_better(const float* x, const uint8_t* salient, long n, const Grid& a, const Grid& b, int maxq, uint8_t* ca, uint8_t* cb) {
  encode_run(x, n, a, 1.0 / a.scale, maxq, ca);
  encode_run(x, n, b, 1.0 / b.scale, maxq, cb);
  if (simd_available()) {
    const auto [ea, eb] = bulk_errors_lanes(x, salient, n, a, b, ca, cb);
    if (std::fabs(ea - eb) > 4.0 * n * 0x1p-53 * (ea + eb)) return ea < eb;
  }
  const auto [ea, eb] = bulk_errors_in_order(x, salient, n, a, b, ca, cb);
  return ea < eb;
}

}  // namespace

void rtn_group_grid(const float* w, long rows, long cols, long group_size, int bits, bool symmetric,
                    uint8_t* codes, float* scales, uint8_t* zeros) {
  rtn_rows(w, rows, cols, group_size, bits, symmetric, codes, scales, zeros);
}

// src/quant/methods/adpq.ts adpqQuantize, per group: the bulk grid on the non-salient weights (or RTN's
// full-range grid when it rounds them better), the salient weights' own grid, and every code (salient
// positions get 0 when their values are kept in f16, as the TypeScript leaves them).
void adpq_groups(const float* w, const uint8_t* salient, long rows, long cols, long gs, int bits, bool symmetric, bool salient_f16,
                 uint8_t* codes, float* scales, uint8_t* zeros, float* salient_scales, uint8_t* salient_zeros) {
  const long groups = (cols + gs - 1) / gs;
  const int maxq = (1 << bits) - 1;
  std::vector<uint8_t> scratch_a(gs), scratch_b(gs);
  for (long r = 0; r < rows; ++r)
    for (long g = 0; g < groups; ++g) {
      const long c0 = r * cols + g * gs, n = std::min(gs, cols - g * gs);
      const float* x = w + c0;
      const uint8_t* m = salient + c0;
      const SplitRanges s = split_ranges(x, m, n);
      const long ns = s.salient;
      Grid bulk = ns == n ? fit_grid(0, 0, bits, symmetric) : fit_grid(s.lo, s.hi, bits, symmetric);
      if (ns > 0 && ns < n) {
        const Grid full = fit_grid(std::min(s.lo, s.slo), std::max(s.hi, s.shi), bits, symmetric);
        if (rounds_better(x, m, n, full, bulk, maxq, scratch_a.data(), scratch_b.data())) bulk = full;
      }
      scales[r * groups + g] = static_cast<float>(bulk.scale);
      zeros[r * groups + g] = static_cast<uint8_t>(bulk.zero);
      const bool own = ns > 0 && !salient_f16;
      Grid out{0, 0};
      if (own) {
        out = fit_grid(s.slo, s.shi, bits, symmetric);
        salient_scales[r * groups + g] = static_cast<float>(out.scale);
        salient_zeros[r * groups + g] = static_cast<uint8_t>(out.zero);
      }
      encode_run(x, n, bulk, 1.0 / bulk.scale, maxq, codes + c0);
      if (ns == 0) continue;
      const double sinv = own ? 1.0 / out.scale : 0;
      for (long j = 0; j < n; ++j)
        if (m[j]) codes[c0 + j] = own ? encode(x[j], out, sinv, maxq) : 0;
    }
}

// adpq.ts dequantizeAdpq with salient weights on their own grids: s * (code - z) on the grid each
// position belongs to, rounded once to f32 (exact products: 11-bit scales times 8-bit differences).
void dequantize_adpq(const uint8_t* codes, const uint8_t* salient, const float* scales, const uint8_t* zeros, const float* salient_scales,
                     const uint8_t* salient_zeros, long rows, long cols, long gs, float* out) {
  const long groups = (cols + gs - 1) / gs;
  for (long r = 0; r < rows; ++r)
    for (long g = 0; g < groups; ++g) {
      const long k = r * groups + g, c0 = r * cols + g * gs, c1 = r * cols + std::min(cols, (g + 1) * gs);
      const float s = scales[k], z = zeros[k], ss = salient_scales[k], sz = salient_zeros[k];
      for (long i = c0; i < c1; ++i) out[i] = salient[i] ? ss * (static_cast<float>(codes[i]) - sz) : s * (static_cast<float>(codes[i]) - z);
    }
}

// adpq.ts positionLists: per (row, group) the number of salient positions, and their in-group
// indices in position order. Returns how many indices were written (at most `capacity`).
long salient_positions(const uint8_t* mask, long rows, long cols, long gs, int32_t* counts, int32_t* index, long capacity) {
  const long groups = (cols + gs - 1) / gs;
  long n = 0;
  for (long r = 0; r < rows; ++r)
    for (long g = 0; g < groups; ++g) {
      const long c0 = g * gs, c1 = std::min(cols, c0 + gs);
      int32_t count = 0;
      for (long c = c0; c < c1; ++c)
        if (mask[r * cols + c]) {
          if (n < capacity) index[n] = static_cast<int32_t>(c - c0);
          ++n;
          ++count;
        }
      counts[r * groups + g] = count;
    }
  return n;
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
