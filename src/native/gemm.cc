// General matrix multiply, BLIS-style, in f32 and f64: C = alpha * op(A) * op(B) + beta * C,
// row-major, any leading dimensions.
//
// The loop nest is the classic one (Goto & van de Geijn, "Anatomy of high-performance matrix
// multiplication", 2008): B is packed into KC x NC panels of NR-wide slivers, A into MC x KC
// blocks of MR-tall slivers, and a register-blocked MR x NR micro-kernel does all the flops.
// Packing absorbs the transposes, so one micro-kernel serves all four variants.
//
// On AVX2+FMA machines the micro-kernel holds a 6 x 2-vector tile (12 ymm accumulators, 2 loads
// of B and 6 broadcasts of A per k): 12 FMAs per 8 loads keeps both FMA pipes busy. That is
// 6 x 16 in f32 and 6 x 8 in f64. Elsewhere a portable kernel of the same shape is used.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "pool.h"

namespace lowbit {

namespace {

template <typename T> struct Tile;
template <> struct Tile<float> { static constexpr long MR = 6, NR = 16, KC = 256, MC = 120, NC = 3072; };
template <> struct Tile<double> { static constexpr long MR = 6, NR = 8, KC = 256, MC = 96, NC = 2048; };
// KC x NR sliver of B (16 KiB) + MR x KC sliver of A stay in L1; MC x KC of A (~120-190 KiB) in
// the 1 MiB L2; KC x NC of B (3-4 MiB) in the shared 32 MiB L3.

// Packs op(A)[i0:i0+mc, k0:k0+kc] into MR-tall slivers, k-major inside a sliver; pads with zeros.
template <typename T>
void pack_a(const T* A, long lda, bool trans, long i0, long mc, long k0, long kc, T* out) {
  constexpr long MR = Tile<T>::MR;
  for (long ir = 0; ir < mc; ir += MR) {
    long mr = std::min(MR, mc - ir);
    for (long k = 0; k < kc; ++k) {
      for (long r = 0; r < MR; ++r) {
        long i = i0 + ir + r, kk = k0 + k;
        *out++ = r < mr ? (trans ? A[kk * lda + i] : A[i * lda + kk]) : T(0);
      }
    }
  }
}

// Packs op(B)[k0:k0+kc, j0:j0+nc] into NR-wide slivers, k-major inside a sliver; pads with zeros.
template <typename T>
void pack_b(const T* B, long ldb, bool trans, long k0, long kc, long j0, long nc, T* out) {
  constexpr long NR = Tile<T>::NR;
  for (long jr = 0; jr < nc; jr += NR) {
    long nr = std::min(NR, nc - jr);
    if (!trans && nr == NR) {
      for (long k = 0; k < kc; ++k, out += NR)
        std::memcpy(out, B + (k0 + k) * ldb + j0 + jr, NR * sizeof(T));
      continue;
    }
    for (long k = 0; k < kc; ++k) {
      for (long c = 0; c < NR; ++c) {
        long kk = k0 + k, j = j0 + jr + c;
        *out++ = c < nr ? (trans ? B[j * ldb + kk] : B[kk * ldb + j]) : T(0);
      }
    }
  }
}

// acc[MR][NR] = sum_k a[k][r] * b[k][c] over packed slivers.
template <typename T>
void micro_generic(long kc, const T* a, const T* b, T* acc) {
  constexpr long MR = Tile<T>::MR, NR = Tile<T>::NR;
  T t[MR * NR] = {0};
  for (long k = 0; k < kc; ++k)
    for (long r = 0; r < MR; ++r)
      for (long c = 0; c < NR; ++c) t[r * NR + c] += a[k * MR + r] * b[k * NR + c];
  std::memcpy(acc, t, sizeof(t));
}

// The AVX2 kernel, written once over a vector type V of W lanes.
#define LOWBIT_MICRO_AVX2(NAME, T, V, LOAD, BCAST, FMA, ZERO, STORE, W)                     \
  __attribute__((target("avx2,fma"))) void NAME(long kc, const T* a, const T* b, T* acc) { \
    V c00 = ZERO(), c01 = ZERO(), c10 = ZERO(), c11 = ZERO(), c20 = ZERO(), c21 = ZERO();  \
    V c30 = ZERO(), c31 = ZERO(), c40 = ZERO(), c41 = ZERO(), c50 = ZERO(), c51 = ZERO();  \
    for (long k = 0; k < kc; ++k, a += 6, b += 2 * W) {                                    \
      V b0 = LOAD(b), b1 = LOAD(b + W);                                                    \
      V a0 = BCAST(a + 0), a1 = BCAST(a + 1);                                              \
      c00 = FMA(a0, b0, c00); c01 = FMA(a0, b1, c01);                                      \
      c10 = FMA(a1, b0, c10); c11 = FMA(a1, b1, c11);                                      \
      V a2 = BCAST(a + 2), a3 = BCAST(a + 3);                                              \
      c20 = FMA(a2, b0, c20); c21 = FMA(a2, b1, c21);                                      \
      c30 = FMA(a3, b0, c30); c31 = FMA(a3, b1, c31);                                      \
      V a4 = BCAST(a + 4), a5 = BCAST(a + 5);                                              \
      c40 = FMA(a4, b0, c40); c41 = FMA(a4, b1, c41);                                      \
      c50 = FMA(a5, b0, c50); c51 = FMA(a5, b1, c51);                                      \
    }                                                                                      \
    STORE(acc + 0 * W, c00); STORE(acc + 1 * W, c01); STORE(acc + 2 * W, c10);             \
    STORE(acc + 3 * W, c11); STORE(acc + 4 * W, c20); STORE(acc + 5 * W, c21);             \
    STORE(acc + 6 * W, c30); STORE(acc + 7 * W, c31); STORE(acc + 8 * W, c40);             \
    STORE(acc + 9 * W, c41); STORE(acc + 10 * W, c50); STORE(acc + 11 * W, c51);           \
  }

LOWBIT_MICRO_AVX2(micro_avx2_f32, float, __m256, _mm256_load_ps, _mm256_broadcast_ss,
                  _mm256_fmadd_ps, _mm256_setzero_ps, _mm256_storeu_ps, 8)
LOWBIT_MICRO_AVX2(micro_avx2_f64, double, __m256d, _mm256_load_pd, _mm256_broadcast_sd,
                  _mm256_fmadd_pd, _mm256_setzero_pd, _mm256_storeu_pd, 4)
#undef LOWBIT_MICRO_AVX2

bool has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
const bool kAvx2 = has_avx2_fma();

inline void micro(long kc, const float* a, const float* b, float* acc) {
  kAvx2 ? micro_avx2_f32(kc, a, b, acc) : micro_generic<float>(kc, a, b, acc);
}
inline void micro(long kc, const double* a, const double* b, double* acc) {
  kAvx2 ? micro_avx2_f64(kc, a, b, acc) : micro_generic<double>(kc, a, b, acc);
}

// C tile = alpha * acc + beta * C (beta == 0 never reads C, so garbage in C is ignored).
template <typename T>
inline void store_tile(const T* acc, T* C, long ldc, long mr, long nr, T alpha, T beta) {
  constexpr long NR = Tile<T>::NR;
  for (long r = 0; r < mr; ++r) {
    T* crow = C + r * ldc;
    const T* arow = acc + r * NR;
    if (beta == T(0))
      for (long c = 0; c < nr; ++c) crow[c] = alpha * arow[c];
    else
      for (long c = 0; c < nr; ++c) crow[c] = alpha * arow[c] + beta * crow[c];
  }
}

template <typename T>
T* aligned64(std::vector<T>& v) {
  auto p = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<T*>((p + 63) & ~uintptr_t(63));
}

template <typename T>
void gemm_serial(bool transA, bool transB, long M, long N, long K, T alpha, const T* A, long lda,
                 const T* B, long ldb, T beta, T* C, long ldc) {
  using P = Tile<T>;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) {
    for (long i = 0; i < M; ++i)
      for (long j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  thread_local std::vector<T> bufA(P::MC * P::KC + 64), bufB(P::KC * P::NC + 64);
  T* packA = aligned64(bufA);
  T* packB = aligned64(bufB);
  alignas(64) T acc[P::MR * P::NR];
  for (long j0 = 0; j0 < N; j0 += P::NC) {
    long nc = std::min(P::NC, N - j0);
    for (long k0 = 0; k0 < K; k0 += P::KC) {
      long kc = std::min(P::KC, K - k0);
      T beta_k = k0 == 0 ? beta : T(1);
      pack_b(B, ldb, transB, k0, kc, j0, nc, packB);
      for (long i0 = 0; i0 < M; i0 += P::MC) {
        long mc = std::min(P::MC, M - i0);
        pack_a(A, lda, transA, i0, mc, k0, kc, packA);
        for (long jr = 0; jr < nc; jr += P::NR) {
          long nr = std::min(P::NR, nc - jr);
          for (long ir = 0; ir < mc; ir += P::MR) {
            long mr = std::min(P::MR, mc - ir);
            micro(kc, packA + ir * kc, packB + jr * kc, acc);
            store_tile(acc, C + (i0 + ir) * ldc + j0 + jr, ldc, mr, nr, alpha, beta_k);
          }
        }
      }
    }
  }
}

template <typename T>
void gemm_parallel(bool transA, bool transB, long M, long N, long K, T alpha, const T* A, long lda,
                   const T* B, long ldb, T beta, T* C, long ldc, int threads) {
  using P = Tile<T>;
  // Splitting only pays when each part has real work (a wake-up costs a few us = ~0.5 MFLOP).
  double flops = 2.0 * M * N * K;
  int parts = static_cast<int>(std::min<double>(threads, flops / 1e6));
  // Split the larger of M and N into slices aligned to the micro-tile; each thread runs an
  // independent serial GEMM on its slice (its own packing buffers, no shared writes).
  bool splitN = N >= M;
  long extent = splitN ? N : M, unit = splitN ? P::NR : P::MR;
  parts = static_cast<int>(std::min<long>(std::max(parts, 1), (extent + unit - 1) / unit));
  if (parts <= 1) {
    gemm_serial(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  long per = ((extent + parts - 1) / parts + unit - 1) / unit * unit;
  parallel_for(parts, [&](int part) {
    long s = part * per;
    if (s >= extent) return;
    long len = std::min(per, extent - s);
    if (splitN)
      gemm_serial(transA, transB, M, len, K, alpha, A, lda, transB ? B + s * ldb : B + s, ldb,
                  beta, C + s, ldc);
    else
      gemm_serial(transA, transB, len, N, K, alpha, transA ? A + s : A + s * lda, lda, B, ldb,
                  beta, C + s * ldc, ldc);
  });
}

}  // namespace

void sgemm(bool transA, bool transB, long M, long N, long K, float alpha, const float* A, long lda,
           const float* B, long ldb, float beta, float* C, long ldc, int threads) {
  gemm_parallel<float>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
}

void dgemm(bool transA, bool transB, long M, long N, long K, double alpha, const double* A,
           long lda, const double* B, long ldb, double beta, double* C, long ldc, int threads) {
  gemm_parallel<double>(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
}

bool simd_available() { return kAvx2; }

}  // namespace lowbit
