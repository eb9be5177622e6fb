// Per-head RMSNorm then RoPE of one token's head (the DFlash drafter's q_norm / k_norm, shared by
// its op-by-op kernels and its one-kernel block pass, so both give the same bits).
#pragma once

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/norm.cuh"
#include "cuda/tiles/rope.cuh"

namespace mimo::cuda::tiles {

// RMSNorm of `in` ([head_dim]) with `weight` into `out` (may alias `in`), then RoPE of `out` at
// `pos` (pairs i, i + half). The team's threads split the head; the bits depend on its size.
// scratch: 32 floats. Every thread of the team calls it.
__device__ __forceinline__ void head_norm_rope_tile(const float* in, float* out,
                                                    const float* weight, int head_dim, float eps,
                                                    int half, const float* inv_freq, int pos,
                                                    float* scratch,
                                                    const Team& me = Team::block()) {
  rmsnorm_token_tile(const_cast<float*>(in), nullptr, weight, head_dim, eps, out, scratch, me);
  me.sync();  // RoPE pairs elements other threads normalised
  rope_head_tile(out, half, inv_freq, pos, me);
}

}  // namespace mimo::cuda::tiles
