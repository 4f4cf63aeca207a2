// Dense f64 factorizations for the quantizers' Hessians: blocked Cholesky and triangular inverse,
// LAPACK-style (dpotrf / dtrtri, lower), with the O(n^3) work in dgemm calls.
#include <cmath>
#include <vector>

#include "kernels.h"
#include "pool.h"

namespace lowbit {

namespace {
constexpr long NB = 96;   // panel width
constexpr long RB = 256;  // row block of the trailing update
}  // namespace

long cholesky_lower(double* A, long n, int threads) {
  for (long j0 = 0; j0 < n; j0 += NB) {
    const long nb = std::min(NB, n - j0), j1 = j0 + nb;
    // 1. Unblocked Cholesky of the diagonal block (earlier panels were already subtracted).
    for (long j = j0; j < j1; ++j) {
      double d = A[j * n + j];
      for (long k = j0; k < j; ++k) d -= A[j * n + k] * A[j * n + k];
      if (!(d > 0.0) || !std::isfinite(d)) return j + 1;
      const double ljj = std::sqrt(d);
      A[j * n + j] = ljj;
      for (long i = j + 1; i < j1; ++i) {
        double s = A[i * n + j];
        for (long k = j0; k < j; ++k) s -= A[i * n + k] * A[j * n + k];
        A[i * n + j] = s / ljj;
      }
    }
    // 2. Panel below: L21 = A21 L11^-T, row by row (forward substitution), rows in parallel.
    const long rows = n - j1;
    const int parts = static_cast<int>(std::max(1L, std::min<long>(threads, rows / 64)));
    const long per = (rows + parts - 1) / std::max(parts, 1);
    parallel_for(parts, [&](int p) {
      for (long i = j1 + p * per; i < std::min(n, j1 + (p + 1) * per); ++i) {
        double* ai = A + i * n;
        for (long j = j0; j < j1; ++j) {
          double s = ai[j];
          for (long k = j0; k < j; ++k) s -= ai[k] * A[j * n + k];
          ai[j] = s / A[j * n + j];
        }
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
