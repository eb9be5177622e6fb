// The SiLU of the gated MLPs. The expert tiles themselves (grouped by expert) are in
// moe_grouped.cuh.
#pragma once

#include <cstddef>

#include "cuda/tiles/linear.cuh"

namespace mimo::cuda::tiles {

__device__ __forceinline__ float silu(float g) {
  return g / (1.0f + expf(-g));
}

}  // namespace mimo::cuda::tiles
