// The SiLU of the gated MLPs. The expert tiles themselves (grouped by expert) are in
// moe_grouped.cuh.
#pragma once

#include <cstddef>

#include "cuda/tiles/linear.cuh"

namespace mimo::cuda::tiles {

__device__ __forceinline__ float silu(float g) {
  return g / (1.0f + expf(-g));
}

// out[i] = silu(gate[i]) * up[i] for i = first, first + stride, ... below count.
__device__ __forceinline__ void silu_mul_tile(const float* gate, const float* up, std::size_t count,
                                              float* out, std::size_t first, std::size_t stride) {
  for (std::size_t i = first; i < count; i += stride) out[i] = silu(gate[i]) * up[i];
}

}  // namespace mimo::cuda::tiles
