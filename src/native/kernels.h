// lowbit's native CPU kernels. Row-major throughout; `threads` is an upper bound on parallelism.
#pragma once
#include <cstdint>

namespace lowbit {

// True when the AVX2+FMA code paths are in use (otherwise portable C++).
bool simd_available();

// C = alpha * op(A) * op(B) + beta * C with op(A) M x K and op(B) K x N.
void sgemm(bool transA, bool transB, long M, long N, long K, float alpha, const float* A, long lda,
           const float* B, long ldb, float beta, float* C, long ldc, int threads);
void dgemm(bool transA, bool transB, long M, long N, long K, double alpha, const double* A,
           long lda, const double* B, long ldb, double beta, double* C, long ldc, int threads);

// Causal (optionally sliding-window) grouped-query attention over `batch` independent windows of
// T tokens. q/out: [batch*T, Hq*hd], k/v: [batch*T, Hkv*hd]. window <= 0 means unlimited.
void causal_attention(const float* q, const float* k, const float* v, float* out, long batch,
                      long T, long Hq, long Hkv, long hd, float scale, long window, int threads);

// Per-row negative log-likelihood of targets under softmax(logits): out[i] = lse(row i) - row[t_i].
void nll_rows(const float* logits, long N, long V, const int32_t* targets, float* out, int threads);

// out = silu(gate) * up, elementwise.
void silu_mul(const float* gate, const float* up, float* out, long n, int threads);

// In-place lower Cholesky of the n x n symmetric positive-definite A (lower triangle read and
// written, upper left untouched). Returns 0, or j+1 when the pivot of column j is not positive.
long cholesky_lower(double* A, long n, int threads);

// In-place inverse of the n x n lower-triangular L (lower triangle only).
void invert_lower(double* L, long n, int threads);

}  // namespace lowbit
