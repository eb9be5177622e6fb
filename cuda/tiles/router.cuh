// MoE router tile (DeepSeek-V3 "noaux_tc" as MiMo-V2 uses it), one warp per token:
// s = sigmoid(logits); choice = s + bias; groups ranked by the sum of their top-2 choices, the
// best topk_group kept (the others' choices become -inf, as transformers and cpu::route mask);
// top_k experts by choice (ties: lower index; NaN never wins);
// weights = s at those experts, normalised by their sum (+1e-20) if asked, times the scaling.
// Experts are emitted in descending order of choice.
// The choices stay in the lanes' registers (expert e = 32 i + lane in slot i), so each of the
// top_k rounds is a lane scan and five shuffles: no block barriers, no shared-memory round trips.
#pragma once

#include <cmath>

#include "cuda/tiles/argmax.cuh"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::tiles {

inline constexpr int kMaxRouterTopK = kWarpSize;  // lane k keeps round k's weight

// Group-limited routing: masks the choices of all but the best topk_group groups. group_smem:
// 2 * n_group floats of this warp's shared memory; choice_smem: num_experts floats.
template <int kPer>
__device__ __forceinline__ void mask_groups_warp(const RouterShape& r, float (&choice)[kPer],
                                                 float* choice_smem, float* group_smem) {
  const int lane = threadIdx.x % kWarpSize, n = r.num_experts;
  const int per_group = n / r.n_group;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    if (i * kWarpSize + lane < n) choice_smem[i * kWarpSize + lane] = choice[i];
  }
  __syncwarp();
  float* group_score = group_smem;
  float* kept = group_smem + r.n_group;
  for (int g = lane; g < r.n_group; g += kWarpSize) {
    float first = -INFINITY, second = -INFINITY;
    for (int e = g * per_group; e < (g + 1) * per_group; ++e) {
      const float c = choice_smem[e];
      if (c > first) {
        second = first;
        first = c;
      } else if (c > second) {
        second = c;
      }
    }
    group_score[g] = per_group >= 2 ? first + second : first;
    kept[g] = 0.0f;
  }
  __syncwarp();
  if (lane == 0) {  // the best topk_group groups, ties to the lower index (as cpu::route)
    for (int round = 0; round < r.topk_group; ++round) {
      int best = -1;
      for (int g = 0; g < r.n_group; ++g) {
        if (kept[g] == 0.0f && (best < 0 || group_score[g] > group_score[best])) best = g;
      }
      if (best >= 0) kept[best] = 1.0f;
    }
  }
  __syncwarp();
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int e = i * kWarpSize + lane;
    if (e < n && kept[e / per_group] == 0.0f) choice[i] = -INFINITY;
  }
  __syncwarp();  // the smem may be reused by the warp's next token
}

// Routes one token: every lane of the warp calls it. kPer * 32 >= num_experts; top_k <= 32.
// group_smem / choice_smem as mask_groups_warp (unused without group limits).
template <int kPer>
__device__ __forceinline__ void route_token_warp(const float* logits, const float* bias,
                                                 const RouterShape& r, int* experts_out,
                                                 float* weights_out, float* choice_smem,
                                                 float* group_smem) {
  const int lane = threadIdx.x % kWarpSize, n = r.num_experts;
  float sig[kPer], choice[kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int e = i * kWarpSize + lane;
    sig[i] = 0.0f;
    choice[i] = __int_as_float(0x7FC00000);  // past the experts: NaN, which never wins
    if (e < n) {
      sig[i] = 1.0f / (1.0f + expf(-logits[e]));
      choice[i] = sig[i] + (bias != nullptr ? bias[e] : 0.0f);
    }
  }
  if (r.n_group > 1 && r.topk_group < r.n_group) {
    mask_groups_warp<kPer>(r, choice, choice_smem, group_smem);
  }
  // Chosen experts are marked in `taken` (bit i: slot i), so choice and sig are only ever
  // indexed by unrolled constants and stay in registers.
  unsigned taken = 0;
  float sum = 0.0f, my_weight = 0.0f;
  int my_expert = 0;
  const float sig0 = __shfl_sync(0xffffffffu, sig[0], 0);
  for (int k = 0; k < r.top_k; ++k) {
    float best = __int_as_float(0x7FC00000), best_sig = 0.0f;
    int best_i = -1;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      if (!(taken >> i & 1u) && arg_better(choice[i], i * kWarpSize + lane, best, best_i)) {
        best = choice[i];
        best_i = i * kWarpSize + lane;
        best_sig = sig[i];
      }
    }
    warp_argmax(best, best_i, best_sig);
    if (best_i >= 0 && best_i % kWarpSize == lane) taken |= 1u << (best_i / kWarpSize);
    const int expert = best_i < 0 ? 0 : best_i;  // only an all-NaN row has no best
    const float picked = best_i < 0 ? sig0 : best_sig;
    sum += picked;  // in round order, as the reference sums
    if (lane == k) {
      my_expert = expert;
      my_weight = picked;
    }
  }
  const float denom = r.norm_topk_prob ? sum + 1e-20f : 1.0f;
  if (lane < r.top_k) {
    experts_out[lane] = my_expert;
    weights_out[lane] = my_weight / denom * r.routed_scaling_factor;
  }
}

}  // namespace mimo::cuda::tiles
