// Vectorisable float loops shared by the kernels. Eight independent accumulators let the
// compiler turn the reductions into SIMD code at -O2 without reassociating anything, and fix
// the summation order (lane k sums elements k, k+8, ...; lanes are then added pairwise).
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace mimo::cpu {

inline float dot(const float* a, const float* b, std::int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  for (int k = 0; i < n; ++i, ++k) acc[k] += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Four dot products a[j] . b[j] side by side, each exactly as dot() computes it: lanes 0-3 and
// 4-7 of dot()'s eight accumulators are two SSE registers, multiplied and added (never fused)
// in the same order, then the same tail and pairwise sum. One dot is a chain of dependent adds;
// four in flight keep the adders busy (1.75x the rate of four dot() calls for 8192 x 256
// rows and 8 tokens on the dev machine).
inline void dots4(const float* const* a, const float* const* b, std::int64_t n, float* out) {
  std::int64_t i = 0;
  float s[4][8];
#if defined(__SSE2__)
  __m128 lo[4], hi[4];
  for (int j = 0; j < 4; ++j) lo[j] = hi[j] = _mm_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 4; ++j) {
      lo[j] = _mm_add_ps(lo[j], _mm_mul_ps(_mm_loadu_ps(a[j] + i), _mm_loadu_ps(b[j] + i)));
      hi[j] = _mm_add_ps(hi[j], _mm_mul_ps(_mm_loadu_ps(a[j] + i + 4), _mm_loadu_ps(b[j] + i + 4)));
    }
  }
  for (int j = 0; j < 4; ++j) {
    _mm_storeu_ps(s[j], lo[j]);
    _mm_storeu_ps(s[j] + 4, hi[j]);
  }
#else
  for (int j = 0; j < 4; ++j) std::fill(s[j], s[j] + 8, 0.0f);
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 4; ++j) {
      for (int k = 0; k < 8; ++k) s[j][k] += a[j][i + k] * b[j][i + k];
    }
  }
#endif
  for (int j = 0; j < 4; ++j) {
    for (std::int64_t t = i, k = 0; t < n; ++t, ++k) s[j][k] += a[j][t] * b[j][t];
    out[j] =
        ((s[j][0] + s[j][1]) + (s[j][2] + s[j][3])) + ((s[j][4] + s[j][5]) + (s[j][6] + s[j][7]));
  }
}

inline float sum_of_squares(const float* a, std::int64_t n) {
  return dot(a, a, n);
}

// y += alpha * x
inline void axpy(float alpha, const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace mimo::cpu
