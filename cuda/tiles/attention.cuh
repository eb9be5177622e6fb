// Decode attention tile: one block computes one query head of one token against the KV cache
// (GQA: the head reads kv head h / (num_heads / num_kv_heads)). Keys 0..pos for full layers,
// pos - window < j <= pos for sliding ones; an optional per-head sink logit joins the softmax
// denominator only. Each warp runs an online softmax over a strided subset of the keys; the
// warps' partial results are merged at the end, so any context length works in fixed smem.
#pragma once

#include <cmath>
#include <cstddef>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::tiles {

inline constexpr int kMaxHeadDim = 256;
inline constexpr int kMaxVPerLane = kMaxHeadDim / kWarpSize;

inline constexpr int kKeysPerRound = 4;

// One warp's online softmax over its keys of first..last (inclusive): rounds of kKeysPerRound
// consecutive keys, round r of warp w starting at first + kKeysPerRound * (w + warps * r). A
// round's key and value loads are all issued before they are used (the loop is bound by load
// latency, not arithmetic). Out: m (largest score, -inf without keys), l (sum of
// exp(score - m)), acc (lane's values d = lane + 32 i of sum exp(score - m) * v).
__device__ __forceinline__ void attend_keys(const float* qs, const KvCacheView& cache,
                                            const AttentionShape& a, int kv_head, int first,
                                            int last, float& m, float& l,
                                            float (&acc)[kMaxVPerLane], const Team& me) {
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
  m = -INFINITY;
  l = 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxVPerLane; ++i) acc[i] = 0.0f;
  for (int j0 = first + kKeysPerRound * warp; j0 <= last; j0 += kKeysPerRound * warps) {
    float vv[kKeysPerRound][kMaxVPerLane];
    float z[kKeysPerRound];
#pragma unroll
    for (int u = 0; u < kKeysPerRound; ++u) {
      const int j = min(j0 + u, last);  // keys past `last` are read again and masked below
      const std::size_t slot =
          static_cast<std::size_t>(j % cache.capacity) * a.num_kv_heads + kv_head;
      const float* kp = cache.k + slot * a.head_dim;
      const float* vp = cache.v + slot * a.v_head_dim;
#pragma unroll
      for (int i = 0; i < kMaxVPerLane; ++i) {  // issued with the keys: one load latency a round
        const int d = lane + i * kWarpSize;
        vv[u][i] = d < a.v_head_dim ? vp[d] : 0.0f;
      }
      z[u] = 0.0f;
#pragma unroll
      for (int i = 0; i < kMaxVPerLane; ++i) {
        const int d = lane + i * kWarpSize;
        if (d < a.head_dim) z[u] = fmaf(qs[d], kp[d], z[u]);
      }
    }
    float m_new = m;
#pragma unroll
    for (int u = 0; u < kKeysPerRound; ++u) {
      z[u] = j0 + u <= last ? warp_sum(z[u]) * a.score_scale : -INFINITY;
      m_new = fmaxf(m_new, z[u]);
    }
    const float correction = expf(m - m_new);  // m_new is finite: key j0 <= last
    float p[kKeysPerRound];
    l *= correction;
#pragma unroll
    for (int u = 0; u < kKeysPerRound; ++u) {
      p[u] = expf(z[u] - m_new);
      l += p[u];
    }
#pragma unroll
    for (int i = 0; i < kMaxVPerLane; ++i) {
      const int d = lane + i * kWarpSize;
      if (d < a.v_head_dim) {
        float o = acc[i] * correction;
#pragma unroll
        for (int u = 0; u < kKeysPerRound; ++u) o = fmaf(p[u], vv[u][i], o);
        acc[i] = o;
      }
    }
    m = m_new;
  }
}

// Shared memory the tile needs, in floats, for `warps` warps.
__host__ __device__ constexpr int attention_smem_floats(int head_dim, int v_head_dim, int warps) {
  return head_dim + warps * (2 + v_head_dim);
}

// q: [head_dim] of this head (global). sink: the head's sink logit, or -INFINITY for none.
// out: [v_head_dim]. smem: attention_smem_floats(...) floats. Called by every thread.
__device__ __forceinline__ void attention_head_tile(const float* q, const KvCacheView& cache,
                                                    const AttentionShape& a, int kv_head, int pos,
                                                    float sink, float* out, float* smem,
                                                    const Team& me = Team::block()) {
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
  float* qs = smem;
  float* partial = smem + a.head_dim;  // per warp: m, l, acc[v_head_dim]
  for (int d = me.thread; d < a.head_dim; d += me.threads) qs[d] = q[d];
  me.sync();

  const int first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
  float m, l;
  float acc[kMaxVPerLane];
  attend_keys(qs, cache, a, kv_head, first, pos, m, l, acc, me);
  float* mine = partial + warp * (2 + a.v_head_dim);
  if (lane == 0) {
    mine[0] = m;
    mine[1] = l;
  }
#pragma unroll
  for (int i = 0; i < kMaxVPerLane; ++i) {
    const int d = lane + i * kWarpSize;
    if (d < a.v_head_dim) mine[2 + d] = acc[i];
  }
  me.sync();

  float m_all = sink;
  for (int w = 0; w < warps; ++w) m_all = fmaxf(m_all, partial[w * (2 + a.v_head_dim)]);
  float denom = isinf(sink) ? 0.0f : expf(sink - m_all);
  for (int w = 0; w < warps; ++w) {
    const float* pw = partial + w * (2 + a.v_head_dim);
    denom = fmaf(pw[1], expf(pw[0] - m_all), denom);
  }
  for (int d = me.thread; d < a.v_head_dim; d += me.threads) {
    float o = 0.0f;
    for (int w = 0; w < warps; ++w) {
      const float* pw = partial + w * (2 + a.v_head_dim);
      o = fmaf(pw[2 + d], expf(pw[0] - m_all), o);
    }
    out[d] = o / denom;
  }
}

// Key-segment (flash-decoding) variant: a block covers keys first..last (inclusive) of one head and
// writes its unnormalised partial: part[0] = m (the largest score, -inf when the range is
// empty), part[1] = sum of exp(score - m), part[2 + d] = sum of exp(score - m) * v[d].
// attention_combine_tile merges a head's partials in segment order with the sink. smem as
// attention_head_tile. Called by every thread of the block.
__device__ __forceinline__ void attention_partial_tile(const float* q, const KvCacheView& cache,
                                                       const AttentionShape& a, int kv_head,
                                                       int first, int last, float* part,
                                                       float* smem,
                                                       const Team& me = Team::block()) {
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
  if (first > last) {
    for (int d = me.thread; d < a.v_head_dim; d += me.threads) part[2 + d] = 0.0f;
    if (me.thread == 0) {
      part[0] = -INFINITY;
      part[1] = 0.0f;
    }
    return;
  }
  float* qs = smem;
  float* partial = smem + a.head_dim;  // per warp: m, l, acc[v_head_dim]
  for (int d = me.thread; d < a.head_dim; d += me.threads) qs[d] = q[d];
  me.sync();
  float m, l;
  float acc[kMaxVPerLane];
  attend_keys(qs, cache, a, kv_head, first, last, m, l, acc, me);
  float* mine = partial + warp * (2 + a.v_head_dim);
  if (lane == 0) {
    mine[0] = m;
    mine[1] = l;
  }
#pragma unroll
  for (int i = 0; i < kMaxVPerLane; ++i) {
    const int d = lane + i * kWarpSize;
    if (d < a.v_head_dim) mine[2 + d] = acc[i];
  }
  me.sync();
  float m_all = -INFINITY;
  for (int w = 0; w < warps; ++w) m_all = fmaxf(m_all, partial[w * (2 + a.v_head_dim)]);
  // Warps without keys (m = -inf) contribute exp(-inf) = 0; m_all is finite (first <= last).
  float denom = 0.0f;
  for (int w = 0; w < warps; ++w) {
    const float* pw = partial + w * (2 + a.v_head_dim);
    denom = fmaf(pw[1], expf(pw[0] - m_all), denom);
  }
  for (int d = me.thread; d < a.v_head_dim; d += me.threads) {
    float o = 0.0f;
    for (int w = 0; w < warps; ++w) {
      const float* pw = partial + w * (2 + a.v_head_dim);
      o = fmaf(pw[2 + d], expf(pw[0] - m_all), o);
    }
    part[2 + d] = o;
  }
  if (me.thread == 0) {
    part[0] = m_all;
    part[1] = denom;
  }
}

// out[d] = the softmax-weighted value of one head from its `segments` partials (stride
// 2 + v_head_dim floats, at least one non-empty) and the sink logit (-INFINITY: none). The
// partials are read from L2 (__ldcg): other blocks of the same kernel may have written them.
__device__ __forceinline__ void attention_combine_tile(const float* parts, int segments,
                                                       int v_head_dim, float sink, float* out,
                                                       const Team& me = Team::block()) {
  const int stride = 2 + v_head_dim;
  float m_all = sink;
  for (int s = 0; s < segments; ++s) m_all = fmaxf(m_all, __ldcg(parts + s * stride));
  float denom = isinf(sink) ? 0.0f : expf(sink - m_all);
  for (int s = 0; s < segments; ++s)
    denom = fmaf(__ldcg(parts + s * stride + 1), expf(__ldcg(parts + s * stride) - m_all), denom);
  for (int d = me.thread; d < v_head_dim; d += me.threads) {
    float o = 0.0f;
    for (int s = 0; s < segments; ++s)
      o = fmaf(__ldcg(parts + s * stride + 2 + d), expf(__ldcg(parts + s * stride) - m_all), o);
    out[d] = o / denom;
  }
}

}  // namespace mimo::cuda::tiles
