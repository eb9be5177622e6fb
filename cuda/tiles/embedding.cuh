// Embedding gather tile: a block copies one token's row of a BF16 or F32 table, widened to float.
#pragma once

#include <cstddef>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::tiles {

__device__ __forceinline__ void embed_token_tile(const Bf16Matrix& table, int token, float* out,
                                                 const Team& me = Team::block()) {
  const std::uint16_t* row = table.values + static_cast<std::size_t>(token) * table.cols;
  for (int c = me.thread; c < table.cols; c += me.threads) out[c] = bf16_bits_to_float(row[c]);
}

__device__ __forceinline__ void embed_token_tile(const F32Matrix& table, int token, float* out,
                                                 const Team& me = Team::block()) {
  const float* row = table.values + static_cast<std::size_t>(token) * table.cols;
  for (int c = me.thread; c < table.cols; c += me.threads) out[c] = row[c];
}

}  // namespace mimo::cuda::tiles
