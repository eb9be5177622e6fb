// dots4 with 256-bit registers (dot_avx2.hpp).
#include "cpu/dot_avx2.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace mimo::cpu::avx2 {

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
  for (int j = 0; j < 4; ++j) {
    float s[8];
    _mm256_storeu_ps(s, acc[j]);
    for (std::int64_t t = i, k = 0; t < n; ++t, ++k) s[k] += a[j][t] * b[j][t];
    out[j] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
}

}  // namespace mimo::cpu::avx2

#else

namespace mimo::cpu::avx2 {
void dots4(const float* const*, const float* const*, std::int64_t, float*) {}
}  // namespace mimo::cpu::avx2

#endif
