// Attention kernel. Each (query, head) output is computed with keys visited in position order;
// a query's scores, softmax and weighted sum are the same operations in the same order however
// the work is grouped. Decode (few queries) runs one job per (query, head); longer steps (prefill,
// verify blocks) run a job per block of queries x the heads of one kv head, so each key and value
// is loaded once for up to 16 query heads.
#include "cpu/attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/attention_pieces.hpp"
#include "cpu/weight_rows_avx2.hpp"

namespace mimo::cpu {
namespace {

// transformers multiplies the float32 scores by the python scalar head_dim ** -0.5.
float score_scale(int head_dim) {
  return static_cast<float>(std::pow(static_cast<double>(head_dim), -0.5));
}

std::int64_t first_key(const AttentionParams& params, std::int64_t pos) {
  return params.window > 0 ? std::max<std::int64_t>(0, pos - params.window + 1) : 0;
}

const float* key_at(const KvLayerView& kv, std::int64_t pos, int kv_head) {
  return kv.keys + ((pos % kv.capacity) * kv.kv_heads + kv_head) * kv.head_dim;
}

const float* value_at(const KvLayerView& kv, std::int64_t pos, int kv_head) {
  return kv.values + ((pos % kv.capacity) * kv.kv_heads + kv_head) * kv.v_head_dim;
}

// scores[0 .. pos - first] (the raw scores z_j) -> p_j = exp(z_j - m) / denominator, in key order.
void softmax_in_place(float* scores, std::int64_t n_keys, const float* sink) {
  float max_score = sink ? *sink : -INFINITY;
  for (std::int64_t j = 0; j < n_keys; ++j) max_score = std::max(max_score, scores[j]);
  float denominator = 0.0f;
  for (std::int64_t j = 0; j < n_keys; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    denominator += scores[j];
  }
  if (sink) denominator += std::exp(*sink - max_score);
  for (std::int64_t j = 0; j < n_keys; ++j) scores[j] = scores[j] / denominator;
}

void attend_one(const KvLayerView& kv, const AttentionParams& params, const float* q, int head,
                std::int64_t pos, std::vector<float>& scores, float* out) {
  const int kv_head = head / (params.num_heads / kv.kv_heads);
  const std::int64_t first = first_key(params, pos);
  const std::int64_t n_keys = pos - first + 1;
  const float scale = score_scale(kv.head_dim);
  scores.resize(n_keys);
  for (std::int64_t j = 0; j < n_keys; ++j) {
    scores[j] = dot(q, key_at(kv, first + j, kv_head), kv.head_dim) * scale;
  }
  softmax_in_place(scores.data(), n_keys, params.sinks ? params.sinks + head : nullptr);
  std::fill(out, out + kv.v_head_dim, 0.0f);
  const bool use_avx2 = avx2::enabled();
  for (std::int64_t j = 0; j < n_keys; ++j) {
    add_weighted(use_avx2, scores[j], value_at(kv, first + j, kv_head), out, kv.v_head_dim);
  }
}

// Queries [i0, i0 + nq) x heads [h0, h1) (all reading kv head g): the union of their key ranges
// scored once per key, then each vector's softmax and weighted sum over its own range.
void attend_group(const KvLayerView& kv, const AttentionParams& params, const float* q, int i0,
                  int nq, int h0, int h1, int g, std::int64_t first_pos, std::vector<float>& scores,
                  float* out) {
  const int heads = params.num_heads, nh = h1 - h0, n = nq * nh;
  const std::int64_t lo = first_key(params, first_pos + i0), hi = first_pos + i0 + nq - 1;
  const std::int64_t span = hi - lo + 1;
  const float scale = score_scale(kv.head_dim);
  const bool use_avx2 = avx2::enabled();
  const float* vec[kQueryBlock * kMaxGroupHeads];
  std::int64_t first[kQueryBlock * kMaxGroupHeads], last[kQueryBlock * kMaxGroupHeads];
  float* o[kQueryBlock * kMaxGroupHeads];
  for (int v = 0; v < n; ++v) {
    const std::int64_t item = (std::int64_t{i0} + v / nh) * heads + h0 + v % nh;
    vec[v] = q + item * kv.head_dim;
    o[v] = out + item * kv.v_head_dim;
    last[v] = first_pos + i0 + v / nh;
    first[v] = first_key(params, last[v]);
  }
  scores.resize(static_cast<std::size_t>(n) * span);
  score_keys([&](std::int64_t j) { return key_at(kv, lo + j, g); }, span, vec, n, kv.head_dim,
             use_avx2, scores.data());
  for (int v = 0; v < n; ++v) {
    float* sc = scores.data() + v * span + (first[v] - lo);
    const std::int64_t n_keys = last[v] - first[v] + 1;
    for (std::int64_t j = 0; j < n_keys; ++j) sc[j] = sc[j] * scale;
    softmax_in_place(sc, n_keys, params.sinks ? params.sinks + h0 + v % nh : nullptr);
    std::fill(o[v], o[v] + kv.v_head_dim, 0.0f);
  }
  // Key by key, each vector adds its weight of the value (its keys in order: the same sums).
  for (std::int64_t j = 0; j < span; ++j) {
    const float* value = value_at(kv, lo + j, g);
    for (int v = 0; v < n; ++v) {
      if (lo + j < first[v] || lo + j > last[v]) continue;
      add_weighted(use_avx2, scores[v * span + j], value, o[v], kv.v_head_dim);
    }
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
  const int group = heads / kv.kv_heads;
  if (n_queries < kQueryBlock || group > kMaxGroupHeads) {
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
    return;
  }
  // Jobs: (block of queries, kv head), over the kv heads the head range touches; blocks shorter
  // than kQueryBlock where that many would leave some of the pool's threads without a job.
  const int g0 = head_begin / group, g1 = (head_end - 1) / group + 1, n_groups = g1 - g0;
  const int per_job = std::clamp(n_queries * n_groups / pool.size(), 1, kQueryBlock);
  const std::int64_t blocks = (n_queries + per_job - 1) / per_job;
  pool.parallel_for(blocks * n_groups, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scores;
    for (std::int64_t job = begin; job < end; ++job) {
      const int g = g0 + static_cast<int>(job % n_groups);
      const int i0 = static_cast<int>(job / n_groups) * per_job;
      const int h0 = std::max(head_begin, g * group), h1 = std::min(head_end, (g + 1) * group);
      attend_group(kv, params, q, i0, std::min(per_job, n_queries - i0), h0, h1, g, first_pos,
                   scores, out);
    }
  });
}

}  // namespace mimo::cpu
