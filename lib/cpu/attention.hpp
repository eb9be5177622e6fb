// Scaled dot-product attention of queries against a KV cache layer: GQA, causal or sliding
// window, optional per-head sink logit, q/k head dim independent of the v head dim.
#pragma once

#include <cstdint>

#include "cpu/thread_pool.hpp"

namespace mimo::cpu {

// One layer's cache: the key/value of position p live at slot p % capacity (a plain array
// when capacity exceeds every position, a ring otherwise).
struct KvLayerView {
  const float* keys = nullptr;    // [capacity, kv_heads, head_dim]
  const float* values = nullptr;  // [capacity, kv_heads, v_head_dim]
  std::int64_t capacity = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int v_head_dim = 0;
};

struct AttentionParams {
  int num_heads = 0;             // query heads; head h reads kv head h / (num_heads / kv_heads)
  int window = 0;                // > 0: key j visible to query i iff i - window < j <= i; 0: j <= i
  const float* sinks = nullptr;  // [num_heads] logits joining the softmax denominator, or null
};

// q: [n_queries, num_heads, head_dim], query i at position first_pos + i; every key it may see
// must already be in `kv`. out: [n_queries, num_heads, v_head_dim].
// p_j = exp(z_j - m) / (sum_j exp(z_j - m) + exp(sink - m)), z_j = (q.k_j) * head_dim^-0.5,
// m = max(z, sink); out = sum_j p_j v_j.
void attention(ThreadPool& pool, const KvLayerView& kv, const AttentionParams& params,
               const float* q, int n_queries, std::int64_t first_pos, float* out);

// The same for query heads [head_begin, head_end) only (the other heads' outputs untouched):
// each (query, head) is computed exactly as attention() computes it.
void attention_heads(ThreadPool& pool, const KvLayerView& kv, const AttentionParams& params,
                     const float* q, int n_queries, std::int64_t first_pos, float* out,
                     int head_begin, int head_end);

}  // namespace mimo::cpu
