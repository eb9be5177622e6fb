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

// One team (a block, or whole warps of one with a named barrier) computes query i, head h (qh:
// that head's head_dim floats); results depend on the team's warp count. The team's warps split
// the keys: warp w scores keys w, w + warps, ... with its lanes holding head dims lane, lane +
// 32, ... (coalesced rows, one warp sum a key) and keeps its own running max, denominator and
// weighted values (online softmax); then the warps' partials are merged in warp order with the
// sink. Every sum has a fixed order, so results are deterministic. head_dim, v_head_dim <=
// kDrafterMaxHeadDim. scratch: drafter_attention_scratch(team warps, v_head_dim) floats.
// in: the step's anchor position and visible context keys. ctx_k [.., kv, hd], ctx_v [.., kv,
// vhd] with ctx_pos [..] ascending; blk_k [block, kv, hd], blk_v [block, kv, vhd]; out
// [block, heads, vhd].
// kDims: head dims a lane holds (head_dim, v_head_dim <= 32 kDims); the results do not depend on
// it. A warp loads its next key's row and value (the next inside the window) before it scores the
// current one (the L2 latency of a row was the tile's time), the same arithmetic in the same order.
template <int kDims = kDrafterMaxHeadDim / kWarpSize>
__device__ __forceinline__ void drafter_attention_tile(const DrafterAttentionShape& s,
                                                       const DrafterStepInputs& in, const float* qh,
                                                       const float* ctx_k, const float* ctx_v,
                                                       const int* ctx_pos, const float* blk_k,
                                                       const float* blk_v, const float* sinks,
                                                       float* out, int i, int h, float* scratch,
                                                       const Team& me = Team::block()) {
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
  const int g = h / (s.num_heads / s.num_kv_heads);
  const long long anchor = in.anchor_position, qpos = anchor + i;
  const int n_context = in.n_context;
  const int total = n_context + s.block;
  float q[kDims], acc[kDims];
#pragma unroll
  for (int k = 0; k < kDims; ++k) {
    const int d = lane + k * kWarpSize;
    q[k] = d < s.head_dim ? qh[d] : 0.0f;
    acc[k] = 0.0f;
  }
  // Key j's row and value into kr / vr (lane's dims; zeros past the head).
  const auto load = [&](int j, float(&kr)[kDims], float(&vr)[kDims]) {
    const long long row = j < n_context
                              ? static_cast<long long>(j) * s.num_kv_heads + g
                              : static_cast<long long>(j - n_context) * s.num_kv_heads + g;
    const float* kh = (j < n_context ? ctx_k : blk_k) + row * s.head_dim;
    const float* vh = (j < n_context ? ctx_v : blk_v) + row * s.v_head_dim;
#pragma unroll
    for (int k = 0; k < kDims; ++k) {
      const int d = lane + k * kWarpSize;
      kr[k] = d < s.head_dim ? kh[d] : 0.0f;
      vr[k] = d < s.v_head_dim ? vh[d] : 0.0f;
    }
  };
  // Whether key j is inside the window (always, without one): warp-uniform.
  const auto visible = [&](int j) {
    const long long kpos = j < n_context ? ctx_pos[j] : anchor + (j - n_context);
    const long long distance = qpos > kpos ? qpos - kpos : kpos - qpos;
    return s.window < 0 || distance <= s.window;
  };
  float running_max = -INFINITY, denom = 0.0f;
  float kc[kDims], vc[kDims];
  // The warp's keys in the window, each loaded one key ahead: `cur` is the next one to score.
  // Context positions ascend, so the keys before the first visible one are found by bisection
  // (a long context under a short window no longer walks them); the warp starts at its first
  // key past them - the same keys in the same order as walking from key `warp`.
  int first = 0;
  if (s.window >= 0) {
    int hi = n_context;
    while (first < hi) {
      const int mid = (first + hi) / 2;
      if (qpos - ctx_pos[mid] > s.window) {
        first = mid + 1;
      } else {
        hi = mid;
      }
    }
  }
  int cur = first > warp ? warp + (first - warp + warps - 1) / warps * warps : warp;
  while (cur < total && !visible(cur)) cur += warps;
  if (cur < total) load(cur, kc, vc);
  while (cur < total) {
    int next = cur + warps;
    while (next < total && !visible(next)) next += warps;
    float kn[kDims], vn[kDims];
    if (next < total) load(next, kn, vn);
    float dot = 0.0f;
#pragma unroll
    for (int k = 0; k < kDims; ++k) {
      const int d = lane + k * kWarpSize;
      if (d < s.head_dim) dot = fmaf(q[k], kc[k], dot);
    }
    const float score = warp_sum(dot) * s.score_scale;
    const float new_max = fmaxf(running_max, score);
    const float rescale = running_max == -INFINITY ? 0.0f : expf(running_max - new_max);
    const float p = expf(score - new_max);
    running_max = new_max;
    denom = denom * rescale + p;
#pragma unroll
    for (int k = 0; k < kDims; ++k) {
      const int d = lane + k * kWarpSize;
      if (d < s.v_head_dim) acc[k] = fmaf(p, vc[k], acc[k] * rescale);
    }
    if (next < total) {
#pragma unroll
      for (int k = 0; k < kDims; ++k) {
        kc[k] = kn[k];
        vc[k] = vn[k];
      }
    }
    cur = next;
  }
  // Merge: per warp its max and denominator, then its weighted values.
  float* maxes = scratch;
  float* denoms = scratch + warps;
  float* values = scratch + 2 * warps;  // [warps, v_head_dim]
  me.sync();                            // the scratch may still be read by a previous call
  if (lane == 0) {
    maxes[warp] = running_max;
    denoms[warp] = denom;
  }
#pragma unroll
  for (int k = 0; k < kDims; ++k) {
    const int d = lane + k * kWarpSize;
    if (d < s.v_head_dim) values[warp * s.v_head_dim + d] = acc[k];
  }
  me.sync();
  float m = sinks != nullptr ? sinks[h] : -INFINITY;
  for (int w = 0; w < warps; ++w) m = fmaxf(m, maxes[w]);
  float total_denom = sinks != nullptr ? expf(sinks[h] - m) : 0.0f;
  for (int w = 0; w < warps; ++w) {
    if (maxes[w] != -INFINITY) total_denom += denoms[w] * expf(maxes[w] - m);
  }
  float* o = out + (static_cast<long long>(i) * s.num_heads + h) * s.v_head_dim;
  for (int d = me.thread; d < s.v_head_dim; d += me.threads) {
    float sum = 0.0f;
    for (int w = 0; w < warps; ++w) {
      if (maxes[w] != -INFINITY) sum = fmaf(values[w * s.v_head_dim + d], expf(maxes[w] - m), sum);
    }
    o[d] = sum / total_denom * s.value_scale;
  }
}

}  // namespace mimo::cuda::tiles
