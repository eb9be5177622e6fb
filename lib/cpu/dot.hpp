// Vectorisable float loops shared by the kernels. Eight independent accumulators let the
// compiler turn the reductions into SIMD code at -O2 without reassociating anything, and fix
// the summation order (lane k sums elements k, k+8, ...; lanes are then added pairwise).
#pragma once

#include <cstdint>

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

inline float sum_of_squares(const float* a, std::int64_t n) {
  return dot(a, a, n);
}

// y += alpha * x
inline void axpy(float alpha, const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace mimo::cpu
