// The DFlash drafter's attention tile: the B queries of a block attend, with NO causal mask, over
// the drafter's context cache (keys of positions before the anchor) followed by the block's own
// keys. Sliding layers keep only keys with |query position - key position| <= window
// (transformers' bidirectional sliding mask); an optional per-head sink logit joins the softmax
// denominator; the output is scaled by the value scale (as lib/spec/dflash_drafter.cpp does).
#pragma once

#include <math.h>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/drafter_shape.hpp"

namespace mimo::cuda::tiles {

// One block of kDrafterKeysPerChunk threads computes query i, head h. Keys are walked in chunks
// of blockDim.x: one thread scores one key, the block takes the chunk maximum, and each thread
// then owns output dims d (threadIdx.x, + blockDim.x, ...) and adds the chunk's weighted values
// in key order, rescaling its running sum when the maximum grows (online softmax; the order of
// every sum is fixed, so results are deterministic). scratch: blockDim.x + 32 floats.
// in: the step's anchor position and visible context keys. q [block, heads, hd]; ctx_k [.., kv,
// hd], ctx_v [.., kv, vhd] with ctx_pos [..] ascending; blk_k [block, kv, hd], blk_v [block, kv,
// vhd]; out [block, heads, vhd].
__device__ __forceinline__ void drafter_attention_tile(const DrafterAttentionShape& s,
                                                       const DrafterStepInputs& in, const float* q,
                                                       const float* ctx_k, const float* ctx_v,
                                                       const int* ctx_pos, const float* blk_k,
                                                       const float* blk_v, const float* sinks,
                                                       float* out, int i, int h, float* scratch) {
  float* p = scratch + 32;
  const int g = h / (s.num_heads / s.num_kv_heads);
  const long long anchor = in.anchor_position, qpos = anchor + i;
  const int n_context = in.n_context;
  const float* qh = q + (static_cast<long long>(i) * s.num_heads + h) * s.head_dim;
  const int total = n_context + s.block;
  float running_max = sinks != nullptr ? sinks[h] : -INFINITY;
  float denom = sinks != nullptr ? 1.0f : 0.0f;
  constexpr int kMaxDimsPerThread = 4;  // v_head_dim <= 4 * blockDim.x
  float acc[kMaxDimsPerThread] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int begin = 0; begin < total; begin += blockDim.x) {
    const int j = begin + threadIdx.x;
    float score = -INFINITY;
    if (j < total) {
      const long long kpos = j < n_context ? ctx_pos[j] : anchor + (j - n_context);
      const long long distance = qpos > kpos ? qpos - kpos : kpos - qpos;
      if (s.window < 0 || distance <= s.window) {
        const float* kh =
            j < n_context
                ? ctx_k + (static_cast<long long>(j) * s.num_kv_heads + g) * s.head_dim
                : blk_k + (static_cast<long long>(j - n_context) * s.num_kv_heads + g) * s.head_dim;
        float dot = 0.0f;
        for (int d = 0; d < s.head_dim; ++d) dot = fmaf(qh[d], kh[d], dot);
        score = dot * s.score_scale;
      }
    }
    // Chunk maximum (block-wide) through the shared scratch.
    float m = warp_max(score);
    __syncthreads();
    if (threadIdx.x % kWarpSize == 0) scratch[threadIdx.x / kWarpSize] = m;
    __syncthreads();
    m = -INFINITY;
    for (int w = 0; w < static_cast<int>(blockDim.x / kWarpSize); ++w) m = fmaxf(m, scratch[w]);
    const float new_max = fmaxf(running_max, m);
    if (new_max == -INFINITY) continue;  // nothing visible yet
    p[threadIdx.x] = score == -INFINITY ? 0.0f : expf(score - new_max);
    const float rescale = running_max == -INFINITY ? 0.0f : expf(running_max - new_max);
    running_max = new_max;
    __syncthreads();
    const int count = min(static_cast<int>(blockDim.x), total - begin);
    float chunk_sum = 0.0f;
    for (int t = 0; t < count; ++t) chunk_sum += p[t];
    denom = denom * rescale + chunk_sum;
    for (int slot = 0; slot < kMaxDimsPerThread; ++slot) {
      const int d = threadIdx.x + slot * blockDim.x;
      if (d >= s.v_head_dim) break;
      float a = acc[slot] * rescale;
      for (int t = 0; t < count; ++t) {
        if (p[t] == 0.0f) continue;
        const int jj = begin + t;
        const float* vh =
            jj < n_context
                ? ctx_v + (static_cast<long long>(jj) * s.num_kv_heads + g) * s.v_head_dim
                : blk_v +
                      (static_cast<long long>(jj - n_context) * s.num_kv_heads + g) * s.v_head_dim;
        a = fmaf(p[t], vh[d], a);
      }
      acc[slot] = a;
    }
  }
  float* o = out + (static_cast<long long>(i) * s.num_heads + h) * s.v_head_dim;
  for (int slot = 0; slot < kMaxDimsPerThread; ++slot) {
    const int d = threadIdx.x + slot * blockDim.x;
    if (d >= s.v_head_dim) break;
    o[d] = acc[slot] / denom * s.value_scale;
  }
}

}  // namespace mimo::cuda::tiles
