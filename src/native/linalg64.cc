// Dense f64 factorizations for the quantizers' Hessians: blocked Cholesky and triangular inverse,
// LAPACK-style (dpotrf / dtrtri, lower), with the O(n^3) work in dgemm calls.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "pool.h"

namespace lowbit {

namespace {
constexpr long NB = 128;  // panel width
constexpr long RB = 256;  // row block of the trailing update

__attribute__((target("avx2,fma"))) double dot_avx2(const double* a, const double* b, long n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  long k = 0;
  for (; k + 8 <= n; k += 8) {
    s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + k), _mm256_loadu_pd(b + k), s0);
    s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + k + 4), _mm256_loadu_pd(b + k + 4), s1);
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(s0, s1));
  double s = (t[0] + t[1]) + (t[2] + t[3]);
  for (; k < n; ++k) s += a[k] * b[k];
  return s;
}

double dot_generic(const double* a, const double* b, long n) {
  double s = 0;
  for (long k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

// Dot product of two contiguous runs (the inner loop of the unblocked factorization steps).
inline double dot(const double* a, const double* b, long n) {
  return simd_available() ? dot_avx2(a, b, n) : dot_generic(a, b, n);
}
}  // namespace

long cholesky_lower(double* A, long n, int threads) {
  for (long j0 = 0; j0 < n; j0 += NB) {
    const long nb = std::min(NB, n - j0), j1 = j0 + nb;
    // 1. Unblocked Cholesky of the diagonal block (earlier panels were already subtracted).
    for (long j = j0; j < j1; ++j) {
      double d = A[j * n + j] - dot(A + j * n + j0, A + j * n + j0, j - j0);
      if (!(d > 0.0) || !std::isfinite(d)) return j + 1;
      const double ljj = std::sqrt(d);
      A[j * n + j] = ljj;
      for (long i = j + 1; i < j1; ++i) {
        A[i * n + j] = (A[i * n + j] - dot(A + i * n + j0, A + j * n + j0, j - j0)) / ljj;
      }
    }
    // 2. Panel below: L21 = A21 L11^-T, row by row (forward substitution), rows in parallel.
    const long rows = n - j1;
    const int parts = static_cast<int>(std::max(1L, std::min<long>(threads, rows / 64)));
    const long per = (rows + parts - 1) / std::max(parts, 1);
    parallel_for(parts, [&](int p) {
      for (long i = j1 + p * per; i < std::min(n, j1 + (p + 1) * per); ++i) {
        double* ai = A + i * n;
        for (long j = j0; j < j1; ++j) ai[j] = (ai[j] - dot(ai + j0, A + j * n + j0, j - j0)) / A[j * n + j];
      }
    });
    // 3. Trailing update of the lower part: A22 -= L21 L21^T, one block row at a time so only the
    //    lower block triangle (plus the diagonal blocks) is computed.
    for (long i0 = j1; i0 < n; i0 += RB) {
      const long i1 = std::min(n, i0 + RB);
      dgemm(false, true, i1 - i0, i1 - j1, nb, -1.0, A + i0 * n + j0, n, A + j1 * n + j0, n, 1.0,
            A + i0 * n + j1, n, threads);
    }
  }
  for (long i = 0; i < n; ++i)
    for (long j = i + 1; j < n; ++j) A[i * n + j] = 0.0;
  return 0;
}

void invert_lower(double* L, long n, int threads) {
  // Backward over diagonal blocks (dtrtri, lower): with X22 = inv(L22) already in place,
  //   X21 = -X22 L21 X11,  X11 = inv(L11).
  std::vector<double> tmp, blk(NB * NB);
  long last = ((n - 1) / NB) * NB;
  for (long j0 = last; j0 >= 0; j0 -= NB) {
    const long nb = std::min(NB, n - j0), j1 = j0 + nb, rows = n - j1;
    // T = X22 L21 (X22 lower triangular): block rows from the bottom up, so the rows of L21 a
    // block reads are still original when it is computed.
    tmp.assign(rows * nb, 0.0);
    for (long i1 = n; i1 > j1; i1 -= RB) {
      const long i0 = std::max(j1, i1 - RB);
      dgemm(false, false, i1 - i0, nb, i1 - j1, 1.0, L + i0 * n + j1, n, L + j1 * n + j0, n, 0.0,
            tmp.data() + (i0 - j1) * nb, nb, threads);
    }
    // X11 = inv(L11), unblocked (forward substitution on the identity), into blk.
    for (long i = 0; i < nb; ++i) {
      const double lii = L[(j0 + i) * n + j0 + i];
      for (long j = 0; j < i; ++j) {
        double s = 0.0;
        for (long k = j; k < i; ++k) s += L[(j0 + i) * n + j0 + k] * blk[k * nb + j];
        blk[i * nb + j] = -s / lii;
      }
      blk[i * nb + i] = 1.0 / lii;
      for (long j = i + 1; j < nb; ++j) blk[i * nb + j] = 0.0;
    }
    for (long i = 0; i < nb; ++i)
      for (long j = 0; j < nb; ++j) L[(j0 + i) * n + j0 + j] = j <= i ? blk[i * nb + j] : 0.0;
    // X21 = -T X11.
    if (rows > 0)
      dgemm(false, false, rows, nb, nb, -1.0, tmp.data(), nb, blk.data(), nb, 0.0, L + j1 * n + j0,
            n, threads);
  }
}

}  // namespace lowbit
