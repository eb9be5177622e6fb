// Partial neox RoPE tile: rotates pair (i, i + rotary_dim/2) of one head by pos * inv_freq[i].
// The angle is one float32 product and cos/sin are taken in double and rounded to float, the
// same arithmetic as cpu::Rope (CUDA's double cos/sin may differ from glibc's in the last bit).
// Also the KV-cache store tiles (rope_store_kv_tile rotates a key head and stores it with its
// value head).
#pragma once

#include <cstddef>

#include "cuda/tiles/common.cuh"
#include "cuda/tiles/matrix_views.hpp"

namespace mimo::cuda::tiles {

// (a, b) rotated by pos * inv_freq: a' = a cos - b sin, b' = b cos + a sin.
__device__ __forceinline__ void rope_rotate(float& a, float& b, float inv_freq, int pos) {
  const float angle = __fmul_rn(static_cast<float>(pos), inv_freq);
  const float c = static_cast<float>(cos(static_cast<double>(angle)));
  const float s = static_cast<float>(sin(static_cast<double>(angle)));
  // Unfused multiplies and adds, as the CPU computes them.
  const float rotated_a = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
  b = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
  a = rotated_a;
}

__device__ __forceinline__ void rope_pair_tile(float* head, int half, int i, float inv_freq,
                                               int pos) {
  float a = head[i], b = head[i + half];
  rope_rotate(a, b, inv_freq, pos);
  head[i] = a;
  head[i + half] = b;
}

// One head of one token (head: its head_dim floats) rotated in place: pairs (i, i + half) for
// i < half, the block's threads splitting the pairs.
__device__ __forceinline__ void rope_head_tile(float* head, int half, const float* inv_freq,
                                               int pos, const BlockThread& me) {
  for (int i = me.thread; i < half; i += me.threads) {
    rope_pair_tile(head, half, i, inv_freq[i], pos);
  }
}

// ---- the KV cache ----
// k, v: [tokens][num_kv_heads][head_dim / v_head_dim]; the cache: [capacity][num_kv_heads][...],
// position pos in slot pos % capacity (a sliding layer's ring wraps).

// Cache slot (slot row times num_kv_heads plus head) of kv head h at position pos.
__device__ __forceinline__ std::size_t kv_slot(int pos, int h, const AttentionShape& a,
                                               const KvCacheView& cache) {
  return static_cast<std::size_t>(pos % cache.capacity) * a.num_kv_heads + h;
}

// Value head src (token times num_kv_heads plus head) times value_scale into cache slot `slot`.
__device__ __forceinline__ void store_value_tile(const float* v, std::size_t src, std::size_t slot,
                                                 const AttentionShape& a, float value_scale,
                                                 const KvCacheView& cache, const BlockThread& me) {
  for (int d = me.thread; d < a.v_head_dim; d += me.threads) {
    cache.v[slot * a.v_head_dim + d] = v[src * a.v_head_dim + d] * value_scale;
  }
}

// Key and value head h of token t (at position pos) into the cache, the value times value_scale.
__device__ __forceinline__ void store_kv_tile(const float* k, const float* v, int t, int h, int pos,
                                              const AttentionShape& a, float value_scale,
                                              const KvCacheView& cache, const BlockThread& me) {
  const std::size_t slot = kv_slot(pos, h, a, cache);
  const std::size_t src = static_cast<std::size_t>(t) * a.num_kv_heads + h;
  for (int d = me.thread; d < a.head_dim; d += me.threads) {
    cache.k[slot * a.head_dim + d] = k[src * a.head_dim + d];
  }
  store_value_tile(v, src, slot, a, value_scale, cache, me);
}

// Key head h of token t (at position pos) rotated in place, then stored into the cache with its
// value head: a rotated pair goes to the cache from the registers that rotated it (no barrier and
// no second read); the unrotated dims and the value are copied alongside.
__device__ __forceinline__ void rope_store_kv_tile(float* k, const float* v, int t, int h, int pos,
                                                   const AttentionShape& a, int half,
                                                   const float* inv_freq, float value_scale,
                                                   const KvCacheView& cache,
                                                   const BlockThread& me) {
  const std::size_t src = static_cast<std::size_t>(t) * a.num_kv_heads + h;
  const std::size_t slot = kv_slot(pos, h, a, cache);
  float* head = k + src * a.head_dim;
  float* cached = cache.k + slot * a.head_dim;
  for (int i = me.thread; i < half; i += me.threads) {
    float x0 = head[i], x1 = head[i + half];
    rope_rotate(x0, x1, inv_freq[i], pos);
    head[i] = x0;
    head[i + half] = x1;
    cached[i] = x0;
    cached[i + half] = x1;
  }
  for (int d = 2 * half + me.thread; d < a.head_dim; d += me.threads) cached[d] = head[d];
  store_value_tile(v, src, slot, a, value_scale, cache, me);
}

}  // namespace mimo::cuda::tiles
