// RMSNorm tile: one block normalises one token, y = weight * (x * rsqrt(mean(x^2) + eps)), in
// float32 as transformers does; optionally first adds a delta into the residual stream
// (x += delta, written back) so the residual add costs no separate pass.
#pragma once

#include "cuda/tiles/common.cuh"

namespace mimo::cuda::tiles {

// x, out: [dim] of one token (out may alias x when delta is null). delta may be null. scratch:
// 32 floats of shared memory. Called by every thread of the block.
__device__ __forceinline__ void rmsnorm_token_tile(float* x, const float* delta,
                                                   const float* weight, int dim, float eps,
                                                   float* out, float* scratch) {
  float sq = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float v = x[i];
    if (delta != nullptr) {
      v += delta[i];
      x[i] = v;
    }
    sq = fmaf(v, v, sq);
  }
  const float mean_square = block_sum(sq, scratch) / static_cast<float>(dim);
  const float inv_rms = 1.0f / sqrtf(mean_square + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) out[i] = weight[i] * (x[i] * inv_rms);
}

}  // namespace mimo::cuda::tiles
