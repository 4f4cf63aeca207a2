// ggml's reference quantizers of the K-quant blocks that llama-quantize's Q4_K_M mix uses (Q4_K and
// Q6_K), ported from llama.cpp's ggml/src/ggml-quants.c (MIT; quantize_row_q4_K_ref,
// quantize_row_q6_K_ref, make_qkx2_quants, make_qx_quants with rmse_type 1 and no weights), so a
// streaming data-free run writes them at native speed. Single precision throughout, operation for
// operation as ggml's C and as the TypeScript ports in src/quant/ggml/ (q4_k.ts, k-affine.ts,
// q6_k.ts, search.ts), without FMA contraction (ggml-base is built without it): the bytes are
// llama-quantize's (test/kernels.test.ts compares them with the TypeScript, which test/gguf.test.ts
// compares with llama-quantize).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"

#pragma GCC optimize("fp-contract=off")

namespace lowbit {

namespace {

constexpr int QK_K = 256;
constexpr float GROUP_MAX_EPS = 1e-15f;

// ggml's nearest_int: adding 1.5 * 2^23 in f32 rounds to the nearest integer, ties to even.
inline int nearest_int(float fval) {
  float val = fval + 12582912.f;
  int i;
  std::memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

// f32 -> f16 bits, round to nearest even (GGML_FP32_TO_FP16: F16C's conversion, or ggml's portable
// one, which rounds the same way), and back.
uint16_t fp32_to_fp16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint32_t sign = (u >> 16) & 0x8000, mant = u & 0x7fffff;
  const int exp = static_cast<int>((u >> 23) & 0xff);
  const auto round_shift = [](uint32_t v, int shift) {
    const uint32_t kept = v >> shift, rest = v & ((1u << shift) - 1), half = 1u << (shift - 1);
    return rest > half || (rest == half && (kept & 1)) ? kept + 1 : kept;
  };
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
  const int e = exp - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);
  if (e >= 1) return static_cast<uint16_t>(sign | round_shift((static_cast<uint32_t>(e) << 23) | mant, 13));
  if (e < -10) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | round_shift(mant | 0x800000, 14 - e));
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0x1f) u = sign | 0x7f800000 | (mant << 13);
  else if (exp) u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  else if (!mant) u = sign;
  else {
    float v = std::ldexp(static_cast<float>(mant), -24);  // subnormal: exact
    std::memcpy(&u, &v, 4);
    u |= sign;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void put_fp16(uint8_t* p, float x) {
  const uint16_t h = fp32_to_fp16(x);
  p[0] = static_cast<uint8_t>(h), p[1] = static_cast<uint8_t>(h >> 8);
}

float get_fp16(const uint8_t* p) { return fp16_to_fp32(static_cast<uint16_t>(p[0] | (p[1] << 8))); }

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux, float rmin,
                       float rdelta, int nstep) {
  float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = diff * diff;
    best_error += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D, this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// make_qx_quants with rmse_type 1 (weights x^2) and no importance, as quantize_row_q6_K_ref calls it.
float make_qx_quants_rmse1(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) amax = ax, max = x[i];
  }
  if (amax < GROUP_MAX_EPS) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max, sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63, *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

// Q4_K's eight sub-block fits (make_qkx2_quants weighted by av|x| + |x|): scales, mins and codes.
void q4_K_fits(const float* x, float* scales, float* mins, uint8_t* L) {
  uint8_t Laux[32];
  float weights[32];
  for (int j = 0; j < QK_K / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
  }
}

// The same fits with the eight sub-blocks in the eight lanes of AVX2 registers: each lane runs one
// sub-block's make_qkx2_quants, its sums in the same order, so every lane's result is the scalar
// one; where the scalar code branches, the lanes blend. 32 weights x 21 trial scales of serial
// float sums are the K-quants' whole cost, and the lanes run eight of them side by side.
__attribute__((target("avx2"))) void q4_K_fits_avx2(const float* x, float* scales, float* mins, uint8_t* L) {
  constexpr int nmax = 15, nstep = 20;
  const float rmin = -1.f, rdelta = 0.1f;
  alignas(32) float t[32][8];  // t[i][j] = x[32 j + i]
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i) t[i][j] = x[32 * j + i];
  __m256 X[32], W[32];
  __m256 sum_x2 = _mm256_setzero_ps();
  for (int i = 0; i < 32; ++i) {
    X[i] = _mm256_load_ps(t[i]);
    sum_x2 = _mm256_add_ps(sum_x2, _mm256_mul_ps(X[i], X[i]));
  }
  const __m256 av_x = _mm256_sqrt_ps(_mm256_div_ps(sum_x2, _mm256_set1_ps(32)));
  const __m256 sign_bit = _mm256_set1_ps(-0.f), zero = _mm256_setzero_ps(), magic = _mm256_set1_ps(12582912.f);
  for (int i = 0; i < 32; ++i) W[i] = _mm256_add_ps(av_x, _mm256_andnot_ps(sign_bit, X[i]));
  // nearest_int(v) clamped to [0, nmax], as floats (exact small integers).
  const __m256i mant = _mm256_set1_epi32(0x007fffff), bias = _mm256_set1_epi32(0x00400000), lo_i = _mm256_setzero_si256(), hi_i = _mm256_set1_epi32(nmax);
  const auto level = [&](__m256 v) {
    const __m256i i = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(_mm256_add_ps(v, magic)), mant), bias);
    return _mm256_cvtepi32_ps(_mm256_min_epi32(_mm256_max_epi32(i, lo_i), hi_i));
  };
  __m256 min = X[0], max = X[0], sum_w = W[0], sum_x = _mm256_mul_ps(W[0], X[0]);
  for (int i = 1; i < 32; ++i) {
    min = _mm256_min_ps(X[i], min);  // x < min ? x : min
    max = _mm256_max_ps(X[i], max);  // x > max ? x : max
    sum_w = _mm256_add_ps(sum_w, W[i]);
    sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(W[i], X[i]));
  }
  min = _mm256_min_ps(zero, min);  // if (min > 0) min = 0
  const __m256 flat = _mm256_cmp_ps(max, min, _CMP_EQ_OQ);
  __m256 iscale = _mm256_div_ps(_mm256_set1_ps(nmax), _mm256_sub_ps(max, min)), scale = _mm256_div_ps(_mm256_set1_ps(1.f), iscale), best_error = zero;
  __m256 Lv[32], Laux[32];
  for (int i = 0; i < 32; ++i) {
    Lv[i] = level(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min)));
    const __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, Lv[i]), min), X[i]);
    best_error = _mm256_add_ps(best_error, _mm256_mul_ps(W[i], _mm256_mul_ps(diff, diff)));
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = _mm256_div_ps(_mm256_set1_ps(rmin + rdelta * is + nmax), _mm256_sub_ps(max, min));  // min as the trials left it
    __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (int i = 0; i < 32; ++i) {
      Laux[i] = level(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min)));
      const __m256 wl = _mm256_mul_ps(W[i], Laux[i]);
      sum_l = _mm256_add_ps(sum_l, wl);
      sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, Laux[i]));
      sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, X[i]));
    }
    const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
    const __m256 positive = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
    if (!_mm256_movemask_ps(positive)) continue;
    __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
    __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
    const __m256 clamp = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
    this_min = _mm256_blendv_ps(this_min, zero, clamp);
    this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), clamp);
    __m256 cur_error = zero;
    for (int i = 0; i < 32; ++i) {
      const __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, Laux[i]), this_min), X[i]);
      cur_error = _mm256_add_ps(cur_error, _mm256_mul_ps(W[i], _mm256_mul_ps(diff, diff)));
    }
    const __m256 take = _mm256_andnot_ps(flat, _mm256_and_ps(positive, _mm256_cmp_ps(cur_error, best_error, _CMP_LT_OQ)));
    if (!_mm256_movemask_ps(take)) continue;
    for (int i = 0; i < 32; ++i) Lv[i] = _mm256_blendv_ps(Lv[i], Laux[i], take);
    best_error = _mm256_blendv_ps(best_error, cur_error, take);
    scale = _mm256_blendv_ps(scale, this_scale, take);
    min = _mm256_blendv_ps(min, this_min, take);
  }
  // Flat sub-blocks: codes 0, scale 0, the (clamped) min.
  scale = _mm256_blendv_ps(scale, zero, flat);
  _mm256_storeu_ps(scales, scale);
  _mm256_storeu_ps(mins, _mm256_xor_ps(min, sign_bit));  // the_min = -min
  for (int i = 0; i < 32; ++i) {
    alignas(32) int32_t l[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(l), _mm256_cvtps_epi32(_mm256_blendv_ps(Lv[i], zero, flat)));
    for (int j = 0; j < 8; ++j) L[32 * j + i] = static_cast<uint8_t>(l[j]);
  }
}

// block_q4_K: d, dmin (f16), scales[12], qs[128] = 144 bytes.
void quantize_block_q4_K(const float* x, uint8_t* y) {
  uint8_t L[QK_K];
  float mins[8], scales[8], max_scale = 0, max_min = 0;
  uint8_t* sc_bytes = y + 4;
  std::memset(sc_bytes, 0, 12);
  if (simd_available()) q4_K_fits_avx2(x, scales, mins, L);
  else q4_K_fits(x, scales, mins, L);
  for (int j = 0; j < QK_K / 32; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < QK_K / 32; ++j) {
    uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j])), lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
    ls = std::min<uint8_t>(63, ls), lm = std::min<uint8_t>(63, lm);
    if (j < 4) {
      sc_bytes[j] = ls;
      sc_bytes[j + 4] = lm;
    } else {
      sc_bytes[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
      sc_bytes[j - 4] |= ((ls >> 4) << 6);
      sc_bytes[j - 0] |= ((lm >> 4) << 6);
    }
  }
  put_fp16(y, max_scale / 63.f);
  put_fp16(y + 2, max_min / 63.f);
  for (int j = 0; j < QK_K / 32; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, sc_bytes, &sc, &m);
    const float d = get_fp16(y) * sc;
    if (!d) continue;
    const float dm = get_fp16(y + 2) * m;
    for (int ii = 0; ii < 32; ++ii) L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(15, nearest_int((x[32 * j + ii] + dm) / d))));
  }
  uint8_t* q = y + 16;
  for (int j = 0; j < QK_K; j += 64, q += 32)
    for (int l = 0; l < 32; ++l) q[l] = L[j + l] | (L[j + l + 32] << 4);
}

// make_qx_quants_rmse1 for eight 16-weight sub-blocks at once, one a lane (as q4_K_fits_avx2):
// scales[k] and L[16 k + i] for sub-block k of x (sub-blocks at x + 16 k).
__attribute__((target("avx2"))) void q6_K_fits8_avx2(const float* x, float* scales, int8_t* L) {
  constexpr int nmax = 32;
  alignas(32) float t[16][8];
  for (int k = 0; k < 8; ++k)
    for (int i = 0; i < 16; ++i) t[i][k] = x[16 * k + i];
  __m256 X[16], W[16];
  const __m256 sign_bit = _mm256_set1_ps(-0.f), zero = _mm256_setzero_ps(), magic = _mm256_set1_ps(12582912.f);
  __m256 max = zero, amax = zero;
  for (int i = 0; i < 16; ++i) {
    X[i] = _mm256_load_ps(t[i]);
    W[i] = _mm256_mul_ps(X[i], X[i]);
    const __m256 ax = _mm256_andnot_ps(sign_bit, X[i]), gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
    amax = _mm256_blendv_ps(amax, ax, gt);
    max = _mm256_blendv_ps(max, X[i], gt);
  }
  const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(GROUP_MAX_EPS), _CMP_LT_OQ);
  const __m256i mant = _mm256_set1_epi32(0x007fffff), bias = _mm256_set1_epi32(0x00400000), lo_i = _mm256_set1_epi32(-nmax), hi_i = _mm256_set1_epi32(nmax - 1);
  const auto level = [&](__m256 v) {  // nearest_int(v) clamped to [-nmax, nmax - 1], as floats
    const __m256i i = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(_mm256_add_ps(v, magic)), mant), bias);
    return _mm256_cvtepi32_ps(_mm256_min_epi32(_mm256_max_epi32(i, lo_i), hi_i));
  };
  __m256 Lv[16];
  __m256 iscale = _mm256_div_ps(_mm256_set1_ps(-nmax), max), sumlx = zero, suml2 = zero;
  for (int i = 0; i < 16; ++i) {
    Lv[i] = level(_mm256_mul_ps(iscale, X[i]));
    sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(W[i], X[i]), Lv[i]));
    suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(W[i], Lv[i]), Lv[i]));
  }
  __m256 scale = _mm256_blendv_ps(zero, _mm256_div_ps(sumlx, suml2), _mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ));  // suml2 ? sumlx/suml2 : 0
  __m256 best = _mm256_mul_ps(scale, sumlx);
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = _mm256_div_ps(_mm256_set1_ps(-(nmax + 0.1f * is)), max);
    __m256 Laux[16];
    sumlx = suml2 = zero;
    for (int i = 0; i < 16; ++i) {
      Laux[i] = level(_mm256_mul_ps(iscale, X[i]));
      sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(W[i], X[i]), Laux[i]));
      suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(W[i], Laux[i]), Laux[i]));
    }
    const __m256 take = _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
                                      _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
    if (!_mm256_movemask_ps(take)) continue;
    for (int i = 0; i < 16; ++i) Lv[i] = _mm256_blendv_ps(Lv[i], Laux[i], take);
    scale = _mm256_blendv_ps(scale, _mm256_div_ps(sumlx, suml2), take);
    best = _mm256_blendv_ps(best, _mm256_mul_ps(scale, sumlx), take);
  }
  // Sub-blocks below GROUP_MAX_EPS: codes 0 (not nmax + 0) and scale 0.
  _mm256_storeu_ps(scales, _mm256_blendv_ps(scale, zero, tiny));
  const __m256 offset = _mm256_set1_ps(nmax);
  for (int i = 0; i < 16; ++i) {
    alignas(32) int32_t l[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(l), _mm256_cvtps_epi32(_mm256_blendv_ps(_mm256_add_ps(Lv[i], offset), zero, tiny)));
    for (int k = 0; k < 8; ++k) L[16 * k + i] = static_cast<int8_t>(l[k]);
  }
}

// block_q6_K: ql[128], qh[64], scales[16] (int8), d (f16) = 210 bytes.
void quantize_block_q6_K(const float* x, uint8_t* y) {
  int8_t L[QK_K];
  float scales[QK_K / 16], max_scale = 0, max_abs_scale = 0;
  uint8_t *ql = y, *qh = y + 128;
  int8_t* sc = reinterpret_cast<int8_t*>(y + 192);
  if (simd_available()) {
    q6_K_fits8_avx2(x, scales, L);
    q6_K_fits8_avx2(x + 128, scales + 8, L + 128);
  } else
    for (int ib = 0; ib < QK_K / 16; ++ib) scales[ib] = make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib);
  for (int ib = 0; ib < QK_K / 16; ++ib) {
    const float scale = scales[ib];
    const float abs_scale = std::fabs(scale);
    if (abs_scale > max_abs_scale) max_abs_scale = abs_scale, max_scale = scale;
  }
  if (max_abs_scale < GROUP_MAX_EPS) {
    std::memset(y, 0, 210);
    put_fp16(y + 208, 0.f);
    return;
  }
  const float iscale = -128.f / max_scale;
  put_fp16(y + 208, 1 / iscale);
  for (int ib = 0; ib < QK_K / 16; ++ib) sc[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
  for (int j = 0; j < QK_K / 16; ++j) {
    const float d = get_fp16(y + 208) * sc[j];
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, nearest_int(x[16 * j + ii] / d))) + 32);
  }
  for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
      ql[l + 0] = q1 | (q3 << 4);
      ql[l + 32] = q2 | (q4 << 4);
      qh[l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
    }
}

}  // namespace

bool ggml_quantize_blocks(int type_id, const float* x, long n, uint8_t* out) {
  switch (type_id) {
    case 12:  // Q4_K
      for (long i = 0; i < n / QK_K; ++i) quantize_block_q4_K(x + i * QK_K, out + i * 144);
      return true;
    case 14:  // Q6_K
      for (long i = 0; i < n / QK_K; ++i) quantize_block_q6_K(x + i * QK_K, out + i * 210);
      return true;
    default:
      return false;
  }
}

}  // namespace lowbit
