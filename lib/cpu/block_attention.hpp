// The DFlash drafter's attention: the queries of a whole block attend, without a causal mask,
// to the drafter's context rows below the block and to every key of the block itself.
#pragma once

#include <cstdint>

#include "cpu/thread_pool.hpp"

namespace mimo::cpu {

// One layer's context rows: positions ascending, keys [rows, kv_heads, head_dim], values
// [rows, kv_heads, v_head_dim].
struct ContextView {
  const std::int64_t* positions = nullptr;
  const float* keys = nullptr;
  const float* values = nullptr;
  std::int64_t rows = 0;
};

struct BlockAttentionParams {
  int num_heads = 0;  // query heads; head h reads kv head h / (num_heads / num_kv_heads)
  int num_kv_heads = 0;
  int head_dim = 0;  // of q and k
  int v_head_dim = 0;
  std::int64_t window = INT64_MAX;  // key visible iff |query position - key position| <= window
  float value_scale = 1.0f;         // applied to the output
  const float* sinks = nullptr;     // [num_heads] logits joining the softmax denominator, or null
};

// q: [block, num_heads, head_dim], query i at position anchor_position + i; k, v: the block's
// keys [block, kv_heads, head_dim] and values [block, kv_heads, v_head_dim] at the same
// positions. Context rows at positions >= anchor_position are not seen. Query heads
// [head_begin, head_end) only; out: [block, num_heads, v_head_dim] (the other heads untouched).
// p_j = exp(z_j - m) / (sum_j exp(z_j - m) + exp(sink - m)), z_j = (q.k_j) * head_dim^-0.5,
// m = max(z, sink); out = value_scale * sum_j p_j v_j.
void block_attention(ThreadPool& pool, const ContextView& context,
                     const BlockAttentionParams& params, const float* q, const float* k,
                     const float* v, int block, std::int64_t anchor_position, float* out,
                     int head_begin, int head_end);

}  // namespace mimo::cpu
