// Pieces the two CPU attention kernels share (attention.cpp, block_attention.cpp): scores of a
// few keys against many query vectors, and a value added with its weight - each with the bits of
// dot() / axpy() (dot.hpp), on AVX2 where the CPU has it.
#pragma once

#include <cstdint>

namespace mimo::cpu {

// out[k * n + t] = dot(keys[k], q[t], dim) for k < n_keys (1 or 2) and t < n: two keys and four
// vectors a pass (avx2::dots2x4) when use_avx2 and n_keys == 2.
void key_scores(const float* const* keys, int n_keys, const float* const* q, int n, int dim,
                bool use_avx2, float* out);

// out[0..n) += weight * value[0..n), as axpy().
void add_weighted(bool use_avx2, float weight, const float* value, float* out, int n);

}  // namespace mimo::cpu
