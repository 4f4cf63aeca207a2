// Node-API bindings of the native kernels. Every binding checks its arguments' types and that
// every index the kernel will touch lies inside the typed arrays, so a wrong call from
// TypeScript throws instead of corrupting memory.
#include <node_api.h>

#include <cstdint>
#include <string>

#include "kernels.h"
#include "pool.h"

namespace {

using namespace lowbit;

int g_threads = default_threads();

struct Args {
  napi_env env;
  napi_value argv[20];
  size_t argc = 20;
  bool failed = false;

  Args(napi_env e, napi_callback_info info) : env(e) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  }
  void fail(const std::string& msg) {
    if (!failed) napi_throw_type_error(env, nullptr, msg.c_str());
    failed = true;
  }
  double num(size_t i) {
    double v = 0;
    if (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok) fail("argument " + std::to_string(i) + " must be a number");
    return v;
  }
  long integer(size_t i) { return static_cast<long>(num(i)); }
  bool flag(size_t i) {
    bool v = false;
    if (i >= argc || napi_get_value_bool(env, argv[i], &v) != napi_ok) fail("argument " + std::to_string(i) + " must be a boolean");
    return v;
  }
  // A typed array of the given element type with at least `need` elements from `offset`.
  template <typename T>
  T* array(size_t i, napi_typedarray_type want, long offset, long need) {
    bool is = false;
    if (i >= argc || napi_is_typedarray(env, argv[i], &is) != napi_ok || !is) {
      fail("argument " + std::to_string(i) + " must be a typed array");
      return nullptr;
    }
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_get_typedarray_info(env, argv[i], &type, &length, &data, nullptr, nullptr);
    if (type != want) {
      fail("argument " + std::to_string(i) + " has the wrong element type");
      return nullptr;
    }
    if (offset < 0 || need < 0 || static_cast<size_t>(offset + need) > length) {
      fail("argument " + std::to_string(i) + " is too short for the requested shape");
      return nullptr;
    }
    return static_cast<T*>(data) + offset;
  }
};

// Elements spanned by a rows x cols row-major view with leading dimension ld.
long span(long rows, long cols, long ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

template <typename T>
napi_value gemm_binding(napi_env env, napi_callback_info info, napi_typedarray_type ta) {
  // (transA, transB, M, N, K, alpha, A, offA, lda, B, offB, ldb, beta, C, offC, ldc)
  Args a(env, info);
  bool tA = a.flag(0), tB = a.flag(1);
  long M = a.integer(2), N = a.integer(3), K = a.integer(4);
  T alpha = static_cast<T>(a.num(5));
  long offA = a.integer(7), lda = a.integer(8), offB = a.integer(10), ldb = a.integer(11);
  T beta = static_cast<T>(a.num(12));
  long offC = a.integer(14), ldc = a.integer(15);
  if (a.failed) return nullptr;
  if (M < 0 || N < 0 || K < 0) { a.fail("gemm: negative dimension"); return nullptr; }
  if (lda < (tA ? M : K) || ldb < (tB ? K : N) || ldc < N) { a.fail("gemm: leading dimension too small"); return nullptr; }
  const T* A = a.array<T>(6, ta, offA, tA ? span(K, M, lda) : span(M, K, lda));
  const T* B = a.array<T>(9, ta, offB, tB ? span(N, K, ldb) : span(K, N, ldb));
  T* C = a.array<T>(13, ta, offC, span(M, N, ldc));
  if (a.failed) return nullptr;
  if constexpr (sizeof(T) == 4) sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, g_threads);
  else dgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, g_threads);
  return undefined(env);
}

napi_value Sgemm(napi_env env, napi_callback_info info) { return gemm_binding<float>(env, info, napi_float32_array); }
napi_value Dgemm(napi_env env, napi_callback_info info) { return gemm_binding<double>(env, info, napi_float64_array); }

napi_value Attention(napi_env env, napi_callback_info info) {
  // (q, k, v, out, batch, T, Hq, Hkv, hd, scale, window)
  Args a(env, info);
  long batch = a.integer(4), T = a.integer(5), Hq = a.integer(6), Hkv = a.integer(7), hd = a.integer(8);
  float scale = static_cast<float>(a.num(9));
  long window = a.integer(10);
  if (a.failed) return nullptr;
  if (batch < 0 || T < 0 || Hq <= 0 || Hkv <= 0 || hd <= 0 || Hq % Hkv != 0) { a.fail("attention: bad head layout"); return nullptr; }
  const float* q = a.array<float>(0, napi_float32_array, 0, batch * T * Hq * hd);
  const float* k = a.array<float>(1, napi_float32_array, 0, batch * T * Hkv * hd);
  const float* v = a.array<float>(2, napi_float32_array, 0, batch * T * Hkv * hd);
  float* out = a.array<float>(3, napi_float32_array, 0, batch * T * Hq * hd);
  if (a.failed) return nullptr;
  causal_attention(q, k, v, out, batch, T, Hq, Hkv, hd, scale, window, g_threads);
  return undefined(env);
}

napi_value NllRows(napi_env env, napi_callback_info info) {
  // (logits, N, V, targets, out)
  Args a(env, info);
  long N = a.integer(1), V = a.integer(2);
  if (a.failed) return nullptr;
  const float* logits = a.array<float>(0, napi_float32_array, 0, N * V);
  const int32_t* targets = a.array<int32_t>(3, napi_int32_array, 0, N);
  float* out = a.array<float>(4, napi_float32_array, 0, N);
  if (a.failed) return nullptr;
  for (long i = 0; i < N; ++i)
    if (targets[i] < 0 || targets[i] >= V) { a.fail("nll: target id out of range"); return nullptr; }
  nll_rows(logits, N, V, targets, out, g_threads);
  return undefined(env);
}

// out = f(a, b) elementwise over n floats: (a, b, out, n).
template <void (*F)(const float*, const float*, float*, long, int)>
napi_value BinaryElementwise(napi_env env, napi_callback_info info) {
  Args a(env, info);
  long n = a.integer(3);
  if (a.failed) return nullptr;
  const float* x = a.array<float>(0, napi_float32_array, 0, n);
  const float* y = a.array<float>(1, napi_float32_array, 0, n);
  float* o = a.array<float>(2, napi_float32_array, 0, n);
  if (a.failed) return nullptr;
  F(x, y, o, n, g_threads);
  return undefined(env);
}

napi_value RmsNorm(napi_env env, napi_callback_info info) {
  // (x, w, out, rows, d, eps)
  Args a(env, info);
  long rows = a.integer(3), d = a.integer(4);
  float eps = static_cast<float>(a.num(5));
  if (a.failed) return nullptr;
  const float* x = a.array<float>(0, napi_float32_array, 0, rows * d);
  const float* w = a.array<float>(1, napi_float32_array, 0, d);
  float* o = a.array<float>(2, napi_float32_array, 0, rows * d);
  if (a.failed) return nullptr;
  rms_norm(x, w, o, rows, d, eps, g_threads);
  return undefined(env);
}

napi_value Rope(napi_env env, napi_callback_info info) {
  // (x, cos, sin, out, rows, seqLen, heads, hd)
  Args a(env, info);
  long rows = a.integer(4), seqLen = a.integer(5), heads = a.integer(6), hd = a.integer(7);
  if (a.failed) return nullptr;
  if (seqLen <= 0 || hd % 2 != 0) { a.fail("rope: bad shape"); return nullptr; }
  const float* x = a.array<float>(0, napi_float32_array, 0, rows * heads * hd);
  const float* c = a.array<float>(1, napi_float32_array, 0, seqLen * hd / 2);
  const float* s = a.array<float>(2, napi_float32_array, 0, seqLen * hd / 2);
  float* o = a.array<float>(3, napi_float32_array, 0, rows * heads * hd);
  if (a.failed) return nullptr;
  rope(x, c, s, o, rows, seqLen, heads, hd, g_threads);
  return undefined(env);
}

napi_value ActQuant(napi_env env, napi_callback_info info) {
  // (x, out, rows, width, bits, clip, symmetric)
  Args a(env, info);
  long rows = a.integer(2), width = a.integer(3), bits = a.integer(4);
  double clip = a.num(5);
  bool sym = a.flag(6);
  if (a.failed) return nullptr;
  if (bits < 2 || bits > 16) { a.fail("actQuant: bits must be 2..16"); return nullptr; }
  const float* x = a.array<float>(0, napi_float32_array, 0, rows * width);
  float* o = a.array<float>(1, napi_float32_array, 0, rows * width);
  if (a.failed) return nullptr;
  act_quant(x, o, rows, width, static_cast<int>(bits), clip, sym, g_threads);
  return undefined(env);
}

napi_value RtnGroupGrid(napi_env env, napi_callback_info info) {
  // (w, rows, cols, groupSize, bits, symmetric, codes, scales, zeros)
  Args a(env, info);
  long rows = a.integer(1), cols = a.integer(2), gs = a.integer(3), bits = a.integer(4);
  bool sym = a.flag(5);
  if (a.failed) return nullptr;
  if (bits < 2 || bits > 8 || gs < 1 || rows < 0 || cols < 1) { a.fail("rtnGroupGrid: bits must be 2..8, groupSize >= 1, cols >= 1"); return nullptr; }
  long groups = (cols + gs - 1) / gs;
  const float* w = a.array<float>(0, napi_float32_array, 0, rows * cols);
  uint8_t* codes = a.array<uint8_t>(6, napi_uint8_array, 0, rows * cols);
  float* scales = a.array<float>(7, napi_float32_array, 0, rows * groups);
  uint8_t* zeros = a.array<uint8_t>(8, napi_uint8_array, 0, rows * groups);
  if (a.failed) return nullptr;
  rtn_group_grid(w, rows, cols, gs, static_cast<int>(bits), sym, codes, scales, zeros);
  return undefined(env);
}

napi_value AdpqGroups(napi_env env, napi_callback_info info) {
  // (w, salient, rows, cols, groupSize, bits, symmetric, salientF16, codes, scales, zeros, salientScales, salientZeros)
  Args a(env, info);
  long rows = a.integer(2), cols = a.integer(3), gs = a.integer(4), bits = a.integer(5);
  bool sym = a.flag(6), f16 = a.flag(7);
  if (a.failed) return nullptr;
  if (bits < 2 || bits > 8 || gs < 1 || rows < 0 || cols < 1) { a.fail("adpqGroups: bits must be 2..8, groupSize >= 1, cols >= 1"); return nullptr; }
  long groups = (cols + gs - 1) / gs;
  const float* w = a.array<float>(0, napi_float32_array, 0, rows * cols);
  const uint8_t* salient = a.array<uint8_t>(1, napi_uint8_array, 0, rows * cols);
  uint8_t* codes = a.array<uint8_t>(8, napi_uint8_array, 0, rows * cols);
  float* scales = a.array<float>(9, napi_float32_array, 0, rows * groups);
  uint8_t* zeros = a.array<uint8_t>(10, napi_uint8_array, 0, rows * groups);
  float* sscales = a.array<float>(11, napi_float32_array, 0, rows * groups);
  uint8_t* szeros = a.array<uint8_t>(12, napi_uint8_array, 0, rows * groups);
  if (a.failed) return nullptr;
  adpq_groups(w, salient, rows, cols, gs, static_cast<int>(bits), sym, f16, codes, scales, zeros, sscales, szeros);
  return undefined(env);
}

napi_value TopKByMagnitude(napi_env env, napi_callback_info info) {
  // (w, n, k, mask) -> the threshold's f32 bits (0 < k < n)
  Args a(env, info);
  long n = a.integer(1), k = a.integer(2);
  if (a.failed) return nullptr;
  if (k <= 0 || k >= n) { a.fail("topKByMagnitude: 0 < k < n"); return nullptr; }
  const float* w = a.array<float>(0, napi_float32_array, 0, n);
  uint8_t* mask = a.array<uint8_t>(3, napi_uint8_array, 0, n);
  if (a.failed) return nullptr;
  napi_value r;
  napi_create_double(env, static_cast<double>(top_k_by_magnitude(w, n, k, mask)), &r);
  return r;
}

napi_value Bf16ToF32(napi_env env, napi_callback_info info) {
  // (src: Uint16Array, out: Float32Array, n)
  Args a(env, info);
  long n = a.integer(2);
  if (a.failed) return nullptr;
  const uint16_t* src = a.array<uint16_t>(0, napi_uint16_array, 0, n);
  float* out = a.array<float>(1, napi_float32_array, 0, n);
  if (a.failed) return nullptr;
  bf16_to_f32(src, out, n);
  return undefined(env);
}

napi_value FirstNonFinite(napi_env env, napi_callback_info info) {
  // (x: Float32Array, n) -> index or -1
  Args a(env, info);
  long n = a.integer(1);
  if (a.failed) return nullptr;
  const float* x = a.array<float>(0, napi_float32_array, 0, n);
  if (a.failed) return nullptr;
  napi_value r;
  napi_create_double(env, static_cast<double>(first_non_finite(x, n)), &r);
  return r;
}

napi_value DequantizeGroupGrid(napi_env env, napi_callback_info info) {
  // (codes, scales, zeros, rows, cols, groupSize, out)
  Args a(env, info);
  long rows = a.integer(3), cols = a.integer(4), gs = a.integer(5);
  if (a.failed) return nullptr;
  if (gs < 1 || rows < 0 || cols < 1) { a.fail("dequantizeGroupGrid: groupSize >= 1, cols >= 1"); return nullptr; }
  long groups = (cols + gs - 1) / gs;
  const uint8_t* codes = a.array<uint8_t>(0, napi_uint8_array, 0, rows * cols);
  const float* scales = a.array<float>(1, napi_float32_array, 0, rows * groups);
  const uint8_t* zeros = a.array<uint8_t>(2, napi_uint8_array, 0, rows * groups);
  float* out = a.array<float>(6, napi_float32_array, 0, rows * cols);
  if (a.failed) return nullptr;
  dequantize_group_grid(codes, scales, zeros, rows, cols, gs, out);
  return undefined(env);
}

napi_value SquaredErrorSums(napi_env env, napi_callback_info info) {
  // (w, q, n) -> [sum (w - q)^2, sum w^2]
  Args a(env, info);
  long n = a.integer(2);
  if (a.failed) return nullptr;
  const float* w = a.array<float>(0, napi_float32_array, 0, n);
  const float* q = a.array<float>(1, napi_float32_array, 0, n);
  if (a.failed) return nullptr;
  double err = 0, norm = 0;
  squared_error_sums(w, q, n, &err, &norm);
  napi_value arr, e, m;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_double(env, err, &e);
  napi_create_double(env, norm, &m);
  napi_set_element(env, arr, 0, e);
  napi_set_element(env, arr, 1, m);
  return arr;
}

napi_value DequantizeAdpq(napi_env env, napi_callback_info info) {
  // (codes, salient, scales, zeros, salientScales, salientZeros, rows, cols, groupSize, out)
  Args a(env, info);
  long rows = a.integer(6), cols = a.integer(7), gs = a.integer(8);
  if (a.failed) return nullptr;
  if (gs < 1 || rows < 0 || cols < 1) { a.fail("dequantizeAdpq: groupSize >= 1, cols >= 1"); return nullptr; }
  long groups = (cols + gs - 1) / gs;
  const uint8_t* codes = a.array<uint8_t>(0, napi_uint8_array, 0, rows * cols);
  const uint8_t* salient = a.array<uint8_t>(1, napi_uint8_array, 0, rows * cols);
  const float* scales = a.array<float>(2, napi_float32_array, 0, rows * groups);
  const uint8_t* zeros = a.array<uint8_t>(3, napi_uint8_array, 0, rows * groups);
  const float* salient_scales = a.array<float>(4, napi_float32_array, 0, rows * groups);
  const uint8_t* salient_zeros = a.array<uint8_t>(5, napi_uint8_array, 0, rows * groups);
  float* out = a.array<float>(9, napi_float32_array, 0, rows * cols);
  if (a.failed) return nullptr;
  dequantize_adpq(codes, salient, scales, zeros, salient_scales, salient_zeros, rows, cols, gs, out);
  return undefined(env);
}

napi_value SalientPositions(napi_env env, napi_callback_info info) {
  // (mask, rows, cols, groupSize, counts: Int32Array [rows * groups], index: Int32Array) -> salient positions
  Args a(env, info);
  long rows = a.integer(1), cols = a.integer(2), gs = a.integer(3);
  if (a.failed) return nullptr;
  if (gs < 1 || rows < 0 || cols < 1) { a.fail("salientPositions: groupSize >= 1, cols >= 1"); return nullptr; }
  long groups = (cols + gs - 1) / gs;
  const uint8_t* mask = a.array<uint8_t>(0, napi_uint8_array, 0, rows * cols);
  int32_t* counts = a.array<int32_t>(4, napi_int32_array, 0, rows * groups);
  int32_t* index = a.array<int32_t>(5, napi_int32_array, 0, 0);
  if (a.failed) return nullptr;
  size_t capacity = 0;
  napi_get_typedarray_info(env, a.argv[5], nullptr, &capacity, nullptr, nullptr, nullptr);
  napi_value r;
  napi_create_double(env, static_cast<double>(salient_positions(mask, rows, cols, gs, counts, index, static_cast<long>(capacity))), &r);
  return r;
}

napi_value GgmlQuantize(napi_env env, napi_callback_info info) {
  // (typeId, x: Float32Array, n (a multiple of 256), out: Uint8Array, blockBytes) -> whether the type has a native port
  Args a(env, info);
  long type_id = a.integer(0), n = a.integer(2), block_bytes = a.integer(4);
  if (a.failed) return nullptr;
  if (n % 256 != 0 || block_bytes < 1) { a.fail("ggmlQuantize: n must be a multiple of 256"); return nullptr; }
  const float* x = a.array<float>(1, napi_float32_array, 0, n);
  uint8_t* out = a.array<uint8_t>(3, napi_uint8_array, 0, n / 256 * block_bytes);
  if (a.failed) return nullptr;
  const bool expected = (type_id == 12 && block_bytes == 144) || (type_id == 14 && block_bytes == 210);
  napi_value r;
  napi_get_boolean(env, expected && ggml_quantize_blocks(static_cast<int>(type_id), x, n, out), &r);
  return r;
}

napi_value PackBitsU8(napi_env env, napi_callback_info info) {
  // (values: Uint8Array, n, width, out: Uint8Array of ceil(n * width / 8) bytes)
  Args a(env, info);
  long n = a.integer(1), width = a.integer(2);
  if (a.failed) return nullptr;
  if (width < 1 || width > 8) { a.fail("packBitsU8: 1 <= width <= 8"); return nullptr; }
  const uint8_t* values = a.array<uint8_t>(0, napi_uint8_array, 0, n);
  uint8_t* out = a.array<uint8_t>(3, napi_uint8_array, 0, (n * width + 7) / 8);
  if (a.failed) return nullptr;
  pack_bits_u8(values, n, static_cast<int>(width), out);
  return undefined(env);
}

napi_value MaxU8(napi_env env, napi_callback_info info) {
  // (values: Uint8Array, n) -> the largest value
  Args a(env, info);
  long n = a.integer(1);
  if (a.failed) return nullptr;
  const uint8_t* values = a.array<uint8_t>(0, napi_uint8_array, 0, n);
  if (a.failed) return nullptr;
  napi_value r;
  napi_create_uint32(env, max_u8(values, n), &r);
  return r;
}

napi_value CholeskyLower(napi_env env, napi_callback_info info) {
  // (A, n) -> 0 or failing column + 1
  Args a(env, info);
  long n = a.integer(1);
  if (a.failed) return nullptr;
  double* A = a.array<double>(0, napi_float64_array, 0, n * n);
  if (a.failed) return nullptr;
  napi_value r;
  napi_create_double(env, static_cast<double>(cholesky_lower(A, n, g_threads)), &r);
  return r;
}

napi_value InvertLower(napi_env env, napi_callback_info info) {
  // (L, n)
  Args a(env, info);
  long n = a.integer(1);
  if (a.failed) return nullptr;
  double* L = a.array<double>(0, napi_float64_array, 0, n * n);
  if (a.failed) return nullptr;
  invert_lower(L, n, g_threads);
  return undefined(env);
}

napi_value FmaPeak(napi_env env, napi_callback_info info) {
  // (iterations) -> GFLOP/s on all threads
  Args a(env, info);
  long it = a.integer(0);
  if (a.failed) return nullptr;
  napi_value r;
  napi_create_double(env, fma_peak(it, g_threads), &r);
  return r;
}

napi_value Info(napi_env env, napi_callback_info info) {
  // () -> { simd, threads }; (threads) sets the thread count first.
  Args a(env, info);
  if (a.argc >= 1) {
    long t = a.integer(0);
    if (a.failed) return nullptr;
    g_threads = t < 1 ? 1 : static_cast<int>(t);
  }
  napi_value obj, simd, threads;
  napi_create_object(env, &obj);
  napi_get_boolean(env, simd_available(), &simd);
  napi_create_int32(env, g_threads, &threads);
  napi_set_named_property(env, obj, "simd", simd);
  napi_set_named_property(env, obj, "threads", threads);
  return obj;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dgemm", nullptr, Dgemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attention", nullptr, Attention, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"nllRows", nullptr, NllRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"siluMul", nullptr, BinaryElementwise<silu_mul>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"add", nullptr, BinaryElementwise<add>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsNorm", nullptr, RmsNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rope", nullptr, Rope, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"actQuant", nullptr, ActQuant, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rtnGroupGrid", nullptr, RtnGroupGrid, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adpqGroups", nullptr, AdpqGroups, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"topKByMagnitude", nullptr, TopKByMagnitude, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bf16ToF32", nullptr, Bf16ToF32, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"firstNonFinite", nullptr, FirstNonFinite, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dequantizeGroupGrid", nullptr, DequantizeGroupGrid, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"squaredErrorSums", nullptr, SquaredErrorSums, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packBitsU8", nullptr, PackBitsU8, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ggmlQuantize", nullptr, GgmlQuantize, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dequantizeAdpq", nullptr, DequantizeAdpq, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"salientPositions", nullptr, SalientPositions, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxU8", nullptr, MaxU8, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"choleskyLower", nullptr, CholeskyLower, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"invertLower", nullptr, InvertLower, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fmaPeak", nullptr, FmaPeak, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
