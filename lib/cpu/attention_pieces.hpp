// Pieces the two CPU attention kernels share (attention.cpp, block_attention.cpp): how their
// jobs group queries, the scores of a run of keys against many query vectors, and a value added
// with its weight - each with the bits of dot() / axpy() (dot.hpp), on AVX2 where the CPU has it.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cpu/dot.hpp"
#include "cpu/dot_avx2.hpp"

namespace mimo::cpu {

// A grouped job takes up to kQueryBlock queries x the query heads of one kv head (at most
// kMaxGroupHeads of them; a kv head serving more gets a job per head): up to 64 query vectors a
// key, few enough for their scores and outputs to stay in the first cache levels.
constexpr int kQueryBlock = 4;
constexpr int kMaxGroupHeads = 16;

// scores[t * n_keys + j] = dot(key(j), q[t], dim) for j < n_keys and t < n: two keys and four
// vectors a pass (avx2::dots2x4) when use_avx2. A product does not depend on its operands'
// order, so each score has the bits of dot(q[t], key(j)).
template <class KeyAt>
void score_keys(const KeyAt& key, std::int64_t n_keys, const float* const* q, int n, int dim,
                bool use_avx2, float* scores) {
  for (std::int64_t j = 0; j < n_keys; j += 2) {
    const int pair = j + 1 < n_keys ? 2 : 1;
    const float* keys[2] = {key(j), key(j + pair - 1)};
    for (int t0 = 0; t0 < n; t0 += 4) {
      const float* b[4];
      for (int t = 0; t < 4; ++t) b[t] = q[std::min(t0 + t, n - 1)];
      const int count = std::min(4, n - t0);
      float y[8];
      if (use_avx2 && pair == 2) {
        avx2::dots2x4(keys, b, dim, y);
      } else {
        for (int k = 0; k < pair; ++k) {
          for (int t = 0; t < count; ++t) y[4 * k + t] = dot(keys[k], b[t], dim);
        }
      }
      for (int k = 0; k < pair; ++k) {
        for (int t = 0; t < count; ++t) scores[(t0 + t) * n_keys + j + k] = y[4 * k + t];
      }
    }
  }
}

// out[0..n) += weight * value[0..n), as axpy().
void add_weighted(bool use_avx2, float weight, const float* value, float* out, int n);

}  // namespace mimo::cpu
