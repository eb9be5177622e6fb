// dots4 with 256-bit registers (dot_avx2.hpp).
#include "cpu/dot_avx2.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace mimo::cpu::avx2 {

namespace {

// dot()'s final step for one accumulator: the tail elements into lanes 0.., then the pairwise sum.
__attribute__((target("avx2"))) inline float finish(__m256 acc, const float* a, const float* b,
                                                    std::int64_t i, std::int64_t n) {
  float s[8];
  _mm256_storeu_ps(s, acc);
  for (std::int64_t t = i, k = 0; t < n; ++t, ++k) s[k] += a[t] * b[t];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

}  // namespace

__attribute__((target("avx2"))) void dots4(const float* const* a, const float* const* b,
                                           std::int64_t n, float* out) {
  __m256 acc[4];
  for (int j = 0; j < 4; ++j) acc[j] = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 4; ++j) {
      acc[j] = _mm256_add_ps(acc[j],
                             _mm256_mul_ps(_mm256_loadu_ps(a[j] + i), _mm256_loadu_ps(b[j] + i)));
    }
  }
  for (int j = 0; j < 4; ++j) out[j] = finish(acc[j], a[j], b[j], i, n);
}

__attribute__((target("avx2"))) void dots2x4(const float* const* a, const float* const* b,
                                             std::int64_t n, float* out) {
  __m256 acc0[4], acc1[4];
  for (int t = 0; t < 4; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 w0 = _mm256_loadu_ps(a[0] + i), w1 = _mm256_loadu_ps(a[1] + i);
    for (int t = 0; t < 4; ++t) {
      const __m256 x = _mm256_loadu_ps(b[t] + i);
      acc0[t] = _mm256_add_ps(acc0[t], _mm256_mul_ps(w0, x));
      acc1[t] = _mm256_add_ps(acc1[t], _mm256_mul_ps(w1, x));
    }
  }
  for (int t = 0; t < 4; ++t) {
    out[t] = finish(acc0[t], a[0], b[t], i, n);
    out[4 + t] = finish(acc1[t], a[1], b[t], i, n);
  }
}

__attribute__((target("avx2"))) void axpy(float alpha, const float* x, float* y, std::int64_t n) {
  const __m256 a = _mm256_set1_ps(alpha);
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(
        y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(a, _mm256_loadu_ps(x + i))));
  }
  for (; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace mimo::cpu::avx2

#else

namespace mimo::cpu::avx2 {
void dots4(const float* const*, const float* const*, std::int64_t, float*) {}
void dots2x4(const float* const*, const float* const*, std::int64_t, float*) {}
void axpy(float, const float*, float*, std::int64_t) {}
}  // namespace mimo::cpu::avx2

#endif
