// Shared attention pieces (attention_pieces.hpp).
#include "cpu/attention_pieces.hpp"

#include <algorithm>

#include "cpu/dot.hpp"
#include "cpu/dot_avx2.hpp"

namespace mimo::cpu {

// A product does not depend on its operands' order, so dot(key, q) has the bits of dot(q, key).
void key_scores(const float* const* keys, int n_keys, const float* const* q, int n, int dim,
                bool use_avx2, float* out) {
  for (int t0 = 0; t0 < n; t0 += 4) {
    const float* b[4];
    for (int t = 0; t < 4; ++t) b[t] = q[std::min(t0 + t, n - 1)];
    const int count = std::min(4, n - t0);
    if (use_avx2 && n_keys == 2) {
      float y[8];
      avx2::dots2x4(keys, b, dim, y);
      for (int t = 0; t < count; ++t) {
        out[t0 + t] = y[t];
        out[n + t0 + t] = y[4 + t];
      }
      continue;
    }
    for (int k = 0; k < n_keys; ++k) {
      for (int t = 0; t < count; ++t) out[k * n + t0 + t] = dot(keys[k], b[t], dim);
    }
  }
}

void add_weighted(bool use_avx2, float weight, const float* value, float* out, int n) {
  if (use_avx2) {
    avx2::axpy(weight, value, out, n);
  } else {
    axpy(weight, value, out, n);
  }
}

}  // namespace mimo::cpu
