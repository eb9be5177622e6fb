// MoE router tile (DeepSeek-V3 "noaux_tc" as MiMo-V2 uses it), one block per token:
// s = sigmoid(logits); choice = s + bias; groups ranked by the sum of their top-2 choices, the
// best topk_group kept (the others' choices become -inf, as transformers and cpu::route mask);
// top_k experts by choice (ties: lower index);
// weights = s at those experts, normalised by their sum (+1e-20) if asked, times the scaling.
// Experts are emitted in descending order of choice.
#pragma once

#include <cmath>

#include "cuda/tiles/argmax.cuh"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::tiles {

// smem: 2 * shape.num_experts + 2 * n_group floats; scratch_v / scratch_i: 32 entries each.
// Called by every thread of the block.
__device__ __forceinline__ void route_token_tile(const float* logits, const float* bias,
                                                 const RouterShape& shape, int* experts_out,
                                                 float* weights_out, float* smem, float* scratch_v,
                                                 int* scratch_i) {
  const int n = shape.num_experts;
  float* sig = smem;
  float* choice = smem + n;
  float* group_score = smem + 2 * n;
  for (int e = threadIdx.x; e < n; e += blockDim.x) {
    const float s = 1.0f / (1.0f + expf(-logits[e]));
    sig[e] = s;
    choice[e] = s + (bias != nullptr ? bias[e] : 0.0f);
  }
  __syncthreads();
  if (shape.n_group > 1 && shape.topk_group < shape.n_group) {
    const int per_group = n / shape.n_group;
    for (int g = threadIdx.x; g < shape.n_group; g += blockDim.x) {
      float first = -INFINITY, second = -INFINITY;
      for (int e = g * per_group; e < (g + 1) * per_group; ++e) {
        const float c = choice[e];
        if (c > first) {
          second = first;
          first = c;
        } else if (c > second) {
          second = c;
        }
      }
      group_score[g] = per_group >= 2 ? first + second : first;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      // Mark the kept groups with 1, best first.
      float* kept = group_score + shape.n_group;
      for (int g = 0; g < shape.n_group; ++g) kept[g] = 0.0f;
      for (int r = 0; r < shape.topk_group; ++r) {
        int best = -1;
        for (int g = 0; g < shape.n_group; ++g) {
          if (kept[g] == 0.0f && (best < 0 || group_score[g] > group_score[best])) best = g;
        }
        if (best >= 0) kept[best] = 1.0f;
      }
    }
    __syncthreads();
    const float* kept = group_score + shape.n_group;
    for (int e = threadIdx.x; e < n; e += blockDim.x) {
      if (kept[e / per_group] == 0.0f) choice[e] = -INFINITY;
    }
    __syncthreads();
  }
  for (int k = 0; k < shape.top_k; ++k) {
    const int best = block_argmax(choice, n, scratch_v, scratch_i);
    if (threadIdx.x == 0) {
      experts_out[k] = best < 0 ? 0 : best;  // only an all-NaN row has no best
      if (best >= 0) choice[best] = -INFINITY;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    float sum = 0.0f;
    for (int k = 0; k < shape.top_k; ++k) sum += sig[experts_out[k]];
    const float denom = shape.norm_topk_prob ? sum + 1e-20f : 1.0f;
    for (int k = 0; k < shape.top_k; ++k) {
      weights_out[k] = sig[experts_out[k]] / denom * shape.routed_scaling_factor;
    }
  }
}

}  // namespace mimo::cuda::tiles
