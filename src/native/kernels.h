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

namespace lowbit {

// out = a + b (n elements).
void add(const float* a, const float* b, float* out, long n, int threads);

// RMSNorm of each of `rows` rows of length d: out = x / sqrt(mean(x^2) + eps) * w.
void rms_norm(const float* x, const float* w, float* out, long rows, long d, float eps, int threads);

// Rotate-half RoPE on x [rows, heads*hd]; row r is at position r % seqLen; cos/sin [seqLen, hd/2].
void rope(const float* x, const float* cos, const float* sin, float* out, long rows, long seqLen,
          long heads, long hd, int threads);

}  // namespace lowbit

namespace lowbit {
// Measures the f32 FMA throughput (GFLOP/s) of `threads` threads running independent FMA chains
// for `iterations` steps each: the machine's compute limit that GEMM is compared against.
double fma_peak(long iterations, int threads);
}  // namespace lowbit

namespace lowbit {
// Per-row fake quantization of x [rows, width] (QuaRot's ActQuantizer): symmetric with
// scale = clip * max|x| / (2^(b-1) - 1), or asymmetric over [clip * min(x, 0), clip * max(x, 0)];
// round half to even. Rows of zeros stay zero.
void act_quant(const float* x, float* out, long rows, long width, int bits, double clip, bool symmetric, int threads);
}  // namespace lowbit

namespace lowbit {
// Round-to-nearest of w [rows, cols] on per-group grids of `group_size` inputs (the last group of a
// row may be shorter), b-bit, min/max (asymmetric) or absmax (symmetric), scales rounded to f16:
// codes [rows, cols], scales and zeros [rows, groups]. Bit-identical to src/quant/group-grid.ts.
// Single-threaded: the streaming quantizer runs one tensor per worker thread.
void rtn_group_grid(const float* w, long rows, long cols, long group_size, int bits, bool symmetric,
                    uint8_t* codes, float* scales, uint8_t* zeros);
}  // namespace lowbit

namespace lowbit {
// bf16 values (upper halves of f32) to f32.
void bf16_to_f32(const uint16_t* src, float* out, long n);
// Index of the first NaN or Inf in x, or -1.
long first_non_finite(const float* x, long n);
// W_hat[r, c] = scale[r, g] * (code[r, c] - zero[r, g]) for group grids without a column order.
void dequantize_group_grid(const uint8_t* codes, const float* scales, const uint8_t* zeros, long rows, long cols,
                           long group_size, float* out);
// sum (w - q)^2 and sum w^2 in double, in index order (the relative error of a quantized tensor).
void squared_error_sums(const float* w, const float* q, long n, double* err, double* norm);
}  // namespace lowbit

namespace lowbit {
// AdpQ's per-group work (src/quant/methods/adpq.ts adpqQuantize) given the salient mask: bulk and
// salient grids and every code (salient codes only when salient_f16 is false). Bit-identical.
void adpq_groups(const float* w, const uint8_t* salient, long rows, long cols, long group_size, int bits, bool symmetric,
                 bool salient_f16, uint8_t* codes, float* scales, uint8_t* zeros, float* salient_scales, uint8_t* salient_zeros);
// W_hat of an AdpQ layer whose salient weights have their own grids (not f16 values).
void dequantize_adpq(const uint8_t* codes, const uint8_t* salient, const float* scales, const uint8_t* zeros, const float* salient_scales,
                     const uint8_t* salient_zeros, long rows, long cols, long group_size, float* out);
// Per-group salient counts [rows, groups] and in-group indices (position order); returns the number of salient positions.
long salient_positions(const uint8_t* mask, long rows, long cols, long group_size, int32_t* counts, int32_t* index, long capacity);
// Marks exactly k (0 < k < n) entries of largest |w| (ties by position); returns the k-th largest |w|'s bits.
uint32_t top_k_by_magnitude(const float* w, long n, long k, uint8_t* mask);
}  // namespace lowbit

namespace lowbit {
// n byte values, each below 2^width (1 <= width <= 8), as one little-endian bit stream of
// ceil(n * width / 8) bytes (src/io/bitpack.ts packBits).
void pack_bits_u8(const uint8_t* values, long n, int width, uint8_t* out);
// The largest of n bytes (0 when n = 0).
uint8_t max_u8(const uint8_t* values, long n);
}  // namespace lowbit

namespace lowbit {
// ggml's reference quantizer of block type `type_id` (GGUF ids: 12 Q4_K, 14 Q6_K) over n weights (a
// multiple of 256), blocks written to out; false for a type without a native port.
bool ggml_quantize_blocks(int type_id, const float* x, long n, uint8_t* out);
}  // namespace lowbit
