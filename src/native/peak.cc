// A compute-limit probe: 12 independent FMA chains per thread (enough to cover the FMA latency on
// both pipes), no memory traffic. What it reaches is the practical f32 peak of the machine.
#include <immintrin.h>

#include <atomic>
#include <chrono>

#include "kernels.h"
#include "pool.h"

namespace lowbit {

namespace {
__attribute__((target("avx2,fma"))) float chains_avx2(long iterations) {
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  return _mm256_cvtss_f32(s);
}
}  // namespace

double fma_peak(long iterations, int threads) {
  if (!simd_available()) return 0.0;
  std::atomic<float> sink{0};
  auto t0 = std::chrono::steady_clock::now();
  parallel_for(threads, [&](int) { sink = sink + chains_avx2(iterations); });
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 2.0 * 8 * 12 * iterations * threads / s / 1e9;
}

}  // namespace lowbit
