// Attention kernel, parallel over (query, head) pairs; each pair is computed by one thread with
// keys visited in position order.
#include "cpu/attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/dot.hpp"

namespace mimo::cpu {
namespace {

void attend_one(const KvLayerView& kv, const AttentionParams& params, const float* q, int head,
                std::int64_t pos, std::vector<float>& scores, float* out) {
  const int group = params.num_heads / kv.kv_heads;
  const int kv_head = head / group;
  const std::int64_t first =
      params.window > 0 ? std::max<std::int64_t>(0, pos - params.window + 1) : 0;
  const std::int64_t n_keys = pos - first + 1;
  // transformers multiplies the float32 scores by the python scalar head_dim ** -0.5.
  const float scale = static_cast<float>(std::pow(static_cast<double>(kv.head_dim), -0.5));
  scores.resize(n_keys);
  float max_score = params.sinks ? params.sinks[head] : -INFINITY;
  for (std::int64_t j = 0; j < n_keys; ++j) {
    const std::int64_t slot = (first + j) % kv.capacity;
    const float* key = kv.keys + (slot * kv.kv_heads + kv_head) * kv.head_dim;
    scores[j] = dot(q, key, kv.head_dim) * scale;
    max_score = std::max(max_score, scores[j]);
  }
  float denominator = 0.0f;
  for (std::int64_t j = 0; j < n_keys; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    denominator += scores[j];
  }
  if (params.sinks) denominator += std::exp(params.sinks[head] - max_score);
  std::fill(out, out + kv.v_head_dim, 0.0f);
  for (std::int64_t j = 0; j < n_keys; ++j) {
    const std::int64_t slot = (first + j) % kv.capacity;
    const float* value = kv.values + (slot * kv.kv_heads + kv_head) * kv.v_head_dim;
    axpy(scores[j] / denominator, value, out, kv.v_head_dim);
  }
}

}  // namespace

void attention(ThreadPool& pool, const KvLayerView& kv, const AttentionParams& params,
               const float* q, int n_queries, std::int64_t first_pos, float* out) {
  attention_heads(pool, kv, params, q, n_queries, first_pos, out, 0, params.num_heads);
}

void attention_heads(ThreadPool& pool, const KvLayerView& kv, const AttentionParams& params,
                     const float* q, int n_queries, std::int64_t first_pos, float* out,
                     int head_begin, int head_end) {
  const int heads = params.num_heads, count = head_end - head_begin;
  pool.parallel_for(static_cast<std::int64_t>(n_queries) * count,
                    [&](std::int64_t begin, std::int64_t end) {
                      std::vector<float> scores;
                      for (std::int64_t job = begin; job < end; ++job) {
                        const int i = static_cast<int>(job / count);
                        const int h = head_begin + static_cast<int>(job % count);
                        const std::int64_t item = std::int64_t{i} * heads + h;
                        attend_one(kv, params, q + item * kv.head_dim, h, first_pos + i, scores,
                                   out + item * kv.v_head_dim);
                      }
                    });
}

}  // namespace mimo::cpu
