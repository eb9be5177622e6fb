// Host entry points of the kernels the GPU executor needs beyond the per-op set of ops.hpp:
// experts held as tables of per-expert matrices (formats other than stacked MXFP4), the exact
// save / restore of sliding-ring slots a step overwrites, and the random fills of synthetic
// benchmark weights. Same conventions as ops.hpp: no CUDA types, device pointers, async.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/kernels/ops.hpp"

namespace mimo::cuda {

// out[t * top_k + k, r] = (table[experts[t, k]] row r) . x[t], for r < rows; `table` is a device
// array of matrices of one format, all [rows, cols]. out: [n_tokens * top_k, rows].
template <class Matrix>
void expert_rows(const Matrix* table, int rows, const float* x, const int* experts, int n_tokens,
                 int top_k, float* out, Stream stream = nullptr);
// y[t, r] = sum_k weights[t, k] * (table[experts[t, k]] row r) . act[t * top_k + k], k in order.
// act: [n_tokens * top_k, cols]; y: [n_tokens, rows].
template <class Matrix>
void expert_down_rows(const Matrix* table, int rows, int cols, const float* act, const int* experts,
                      const float* weights, int n_tokens, int top_k, float* y,
                      Stream stream = nullptr);

// Ring storage of `layers` sliding layers, back to back: layer i at base + i * capacity * width
// floats, slot s at + s * width. copy_ring_slots copies the slots of positions first_pos ..
// first_pos + count - 1 (mod capacity) of every layer between the ring and `saved`
// ([layers, count, width]); to_ring false saves, true restores.
void copy_ring_slots(float* ring, float* saved, int layers, int capacity, int width,
                     long long first_pos, int count, bool to_ring, Stream stream = nullptr);

// Deterministic pseudo-random fills (a hash of seed and index), for synthetic weights.
// Bytes: (hash & and_mask) + add, per byte.
void fill_random_bytes(std::uint8_t* data, std::size_t count, std::uint64_t seed,
                       std::uint8_t and_mask, std::uint8_t add, Stream stream = nullptr);
// Uniform in [-scale, scale]: float32 or rounded to BF16 bits.
void fill_random_f32(float* data, std::size_t count, std::uint64_t seed, float scale,
                     Stream stream = nullptr);
void fill_random_bf16(std::uint16_t* data, std::size_t count, std::uint64_t seed, float scale,
                      Stream stream = nullptr);
void fill_constant_f32(float* data, std::size_t count, float value, Stream stream = nullptr);

}  // namespace mimo::cuda
