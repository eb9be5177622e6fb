// Shared pieces of the MoE expert tiles: one member of a stacked MXFP4 projection and the SiLU
// of the gated MLPs. The expert tiles themselves (grouped by expert) are in moe_grouped.cuh.
#pragma once

#include <cstddef>

#include "cuda/tiles/linear.cuh"

namespace mimo::cuda::tiles {

__device__ __forceinline__ Mxfp4Matrix stack_member(const Mxfp4Stack& s, int index) {
  const std::size_t values = static_cast<std::size_t>(s.rows) * s.cols;
  return Mxfp4Matrix{s.codes + index * (values / 2), s.scales + index * (values / 32), s.rows,
                     s.cols};
}

__device__ __forceinline__ float silu(float g) {
  return g / (1.0f + expf(-g));
}

}  // namespace mimo::cuda::tiles
