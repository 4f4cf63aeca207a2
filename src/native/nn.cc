// Neural-network kernels of the forward pass that are not plain GEMM: causal attention,
// log-softmax NLL, SiLU gating. Their cost is dominated by exp(), so exp is vectorised here.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "pool.h"

namespace lowbit {

namespace {

// exp(x) for 8 floats: x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 polynomial
// (Cephes expf coefficients, ~1 ulp), scaled by 2^n through the exponent bits.
__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365478515625f);
  x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// x[i] = exp(x[i] - shift) for i < n; returns the sum (accumulated in f64 across 8-lane chunks).
__attribute__((target("avx2,fma"))) double exp_shift_sum_avx2(float* x, long n, float shift) {
  __m256 s = _mm256_set1_ps(shift);
  double total = 0;
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(x + i, e);
    total += hsum8(e);
  }
  for (; i < n; ++i) total += (x[i] = std::exp(x[i] - shift));
  return total;
}

double exp_shift_sum_generic(float* x, long n, float shift) {
  double total = 0;
  for (long i = 0; i < n; ++i) total += (x[i] = std::exp(x[i] - shift));
  return total;
}

__attribute__((target("avx2,fma"))) float max_avx2(const float* x, long n) {
  float m = -INFINITY;
  long i = 0;
  if (n >= 8) {
    __m256 v = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(x + i));
    m = hmax8(v);
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

float max_generic(const float* x, long n) {
  float m = -INFINITY;
  for (long i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

float row_max(const float* x, long n) { return simd_available() ? max_avx2(x, n) : max_generic(x, n); }
double exp_shift_sum(float* x, long n, float shift) {
  return simd_available() ? exp_shift_sum_avx2(x, n, shift) : exp_shift_sum_generic(x, n, shift);
}

__attribute__((target("avx2,fma"))) void silu_mul_avx2(const float* g, const float* u, float* o, long n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(g + i);
    __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, x))));
    _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_mul_ps(x, sig), _mm256_loadu_ps(u + i)));
  }
  for (; i < n; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void silu_mul_generic(const float* g, const float* u, float* o, long n) {
  for (long i = 0; i < n; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

// Splits [0, n) into `parts` contiguous chunks and runs fn(begin, end) on each in parallel.
template <typename F>
void parallel_chunks(long n, int parts, F fn) {
  parts = static_cast<int>(std::max<long>(1, std::min<long>(parts, n)));
  long per = (n + parts - 1) / parts;
  parallel_for(parts, [&](int p) {
    long b = p * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

}  // namespace

void causal_attention(const float* q, const float* k, const float* v, float* out, long batch,
                      long T, long Hq, long Hkv, long hd, float scale, long window, int threads) {
  // Query rows are processed in blocks of BQ; each block needs keys up to its last row only, so
  // the causal half of QK^T is (almost) never computed.
  constexpr long BQ = 64;
  const long group = Hq / Hkv, ldq = Hq * hd, ldk = Hkv * hd;
  parallel_chunks(batch * Hq, threads, [&](long begin, long end) {
    std::vector<float> scores(BQ * T);
    for (long bh = begin; bh < end; ++bh) {
      long b = bh / Hq, h = bh % Hq, g = h / group;
      const float* qh = q + b * T * ldq + h * hd;
      const float* kh = k + b * T * ldk + g * hd;
      const float* vh = v + b * T * ldk + g * hd;
      float* oh = out + b * T * ldq + h * hd;
      for (long r0 = 0; r0 < T; r0 += BQ) {
        long r1 = std::min(T, r0 + BQ), rows = r1 - r0;
        long k0 = window > 0 ? std::max(0L, r0 - window + 1) : 0, nk = r1 - k0;
        float* S = scores.data();
        sgemm(false, true, rows, nk, hd, scale, qh + r0 * ldq, ldq, kh + k0 * ldk, ldk, 0.0f, S, nk, 1);
        for (long i = 0; i < rows; ++i) {
          long pos = r0 + i;  // keys k0 + j are visible when pos - window < k0 + j <= pos
          long lo = window > 0 ? std::max(0L, pos - window + 1 - k0) : 0, hi = pos - k0 + 1;
          float* row = S + i * nk;
          float m = row_max(row + lo, hi - lo);
          double sum = exp_shift_sum(row + lo, hi - lo, m);
          float inv = static_cast<float>(1.0 / sum);
          for (long j = 0; j < lo; ++j) row[j] = 0.0f;
          for (long j = lo; j < hi; ++j) row[j] *= inv;
          for (long j = hi; j < nk; ++j) row[j] = 0.0f;
        }
        sgemm(false, false, rows, hd, nk, 1.0f, S, nk, vh + k0 * ldk, ldk, 0.0f, oh + r0 * ldq, ldq, 1);
      }
    }
  });
}

void nll_rows(const float* logits, long N, long V, const int32_t* targets, float* out, int threads) {
  parallel_chunks(N, threads, [&](long begin, long end) {
    std::vector<float> row(V);
    for (long i = begin; i < end; ++i) {
      const float* x = logits + i * V;
      std::copy(x, x + V, row.data());
      float m = row_max(row.data(), V);
      double lse = m + std::log(exp_shift_sum(row.data(), V, m));
      out[i] = static_cast<float>(lse - x[targets[i]]);
    }
  });
}

void silu_mul(const float* gate, const float* up, float* out, long n, int threads) {
  parallel_chunks(n, n >= (1 << 16) ? threads : 1, [&](long b, long e) {
    if (simd_available()) silu_mul_avx2(gate + b, up + b, out + b, e - b);
    else silu_mul_generic(gate + b, up + b, out + b, e - b);
  });
}

}  // namespace lowbit
