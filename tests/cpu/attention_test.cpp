// Attention against a float64 reference: GQA, sliding window over a ring, sinks, dv != dk.
#include "cpu/attention.hpp"

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu/dot.hpp"
#include "random_weights.hpp"
#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

using testing::Rng;

struct Case {
  int heads, kv_heads, head_dim, v_head_dim, window;
  bool sinks;
  std::int64_t capacity;
  bool ring;  // the keys in a ring of window + queries - 1 slots, else in 40 linear slots
};

TEST_CASE("attention matches a float64 reference") {
  Rng rng(20);
  ThreadPool pool(2);
  const Case cases[] = {
      {4, 2, 12, 8, 0, false, 0, false},  // full causal, GQA groups of 2
      {4, 4, 12, 8, 5, true, 0, true},    // sliding window 5 on a ring of 5 + queries - 1
      {6, 2, 16, 4, 3, true, 0, false},   // sliding window, linear storage
      {2, 1, 8, 8, 0, true, 0, false},    // full with sink
      {8, 1, 20, 12, 0, true, 0, false},  // one kv head for 8 query heads
  };
  const std::int64_t history = 20;  // positions 0..19; queries are the last 3 or 9
  // 3 queries: a job per (query, head); 9: blocks of queries x a kv head's heads.
  for (const int queries : {3, 9})
    for (Case c : cases) {
      c.capacity = c.ring ? c.window + queries - 1 : 40;
      const std::vector<float> all_k =
          testing::random_vector(rng, history * c.kv_heads * c.head_dim, 2.0f);
      const std::vector<float> all_v =
          testing::random_vector(rng, history * c.kv_heads * c.v_head_dim);
      const std::vector<float> q =
          testing::random_vector(rng, queries * c.heads * c.head_dim, 2.0f);
      const std::vector<float> sinks = testing::random_vector(rng, c.heads, 2.0f);
      std::vector<float> keys(c.capacity * c.kv_heads * c.head_dim);
      std::vector<float> values(c.capacity * c.kv_heads * c.v_head_dim);
      const std::int64_t ks = c.kv_heads * c.head_dim, vs = c.kv_heads * c.v_head_dim;
      for (std::int64_t p = 0; p < history; ++p) {  // write in order, as the cache does
        std::copy_n(all_k.data() + p * ks, ks, keys.data() + (p % c.capacity) * ks);
        std::copy_n(all_v.data() + p * vs, vs, values.data() + (p % c.capacity) * vs);
      }
      KvLayerView view{keys.data(), values.data(), c.capacity,
                       c.kv_heads,  c.head_dim,    c.v_head_dim};
      AttentionParams params;
      params.num_heads = c.heads;
      params.window = c.window;
      params.sinks = c.sinks ? sinks.data() : nullptr;
      const std::int64_t first_pos = history - queries;
      std::vector<float> out(queries * c.heads * c.v_head_dim);
      attention(pool, view, params, q.data(), queries, first_pos, out.data());
      for (int i = 0; i < queries; ++i) {
        const std::int64_t pos = first_pos + i;
        for (int h = 0; h < c.heads; ++h) {
          const int kvh = h / (c.heads / c.kv_heads);
          const float* qh = q.data() + (i * c.heads + h) * c.head_dim;
          std::vector<double> z;
          std::vector<std::int64_t> keys_seen;
          for (std::int64_t j = 0; j <= pos; ++j) {
            if (c.window > 0 && !(pos - c.window < j)) continue;
            double s = 0;
            for (int d = 0; d < c.head_dim; ++d)
              s += double(qh[d]) * all_k[j * ks + kvh * c.head_dim + d];
            z.push_back(s / std::sqrt(double(c.head_dim)));
            keys_seen.push_back(j);
          }
          double m = c.sinks ? sinks[h] : -INFINITY;
          for (double v : z) m = std::max(m, v);
          double denom = c.sinks ? std::exp(sinks[h] - m) : 0.0;
          for (double v : z) denom += std::exp(v - m);
          for (int d = 0; d < c.v_head_dim; ++d) {
            double ref = 0;
            for (std::size_t n = 0; n < z.size(); ++n) {
              ref += std::exp(z[n] - m) / denom * all_v[keys_seen[n] * vs + kvh * c.v_head_dim + d];
            }
            CHECK(std::abs(out[(i * c.heads + h) * c.v_head_dim + d] - ref) <= 2e-6);
          }
        }
      }
    }
}

// The kernel as it was before it grouped queries: one (query, head) at a time, keys in order.
void plain_attention(const KvLayerView& kv, const AttentionParams& params, const float* q,
                     int n_queries, std::int64_t first_pos, float* out, int head_begin,
                     int head_end) {
  const int group = params.num_heads / kv.kv_heads;
  const float scale = static_cast<float>(std::pow(static_cast<double>(kv.head_dim), -0.5));
  for (int i = 0; i < n_queries; ++i) {
    for (int head = head_begin; head < head_end; ++head) {
      const std::int64_t pos = first_pos + i, item = std::int64_t{i} * params.num_heads + head;
      const float* qh = q + item * kv.head_dim;
      float* o = out + item * kv.v_head_dim;
      const int kv_head = head / group;
      const std::int64_t first =
          params.window > 0 ? std::max<std::int64_t>(0, pos - params.window + 1) : 0;
      const std::int64_t n_keys = pos - first + 1;
      std::vector<float> scores(n_keys);
      float max_score = params.sinks ? params.sinks[head] : -INFINITY;
      for (std::int64_t j = 0; j < n_keys; ++j) {
        const std::int64_t slot = (first + j) % kv.capacity;
        scores[j] =
            dot(qh, kv.keys + (slot * kv.kv_heads + kv_head) * kv.head_dim, kv.head_dim) * scale;
        max_score = std::max(max_score, scores[j]);
      }
      float denominator = 0.0f;
      for (std::int64_t j = 0; j < n_keys; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        denominator += scores[j];
      }
      if (params.sinks) denominator += std::exp(params.sinks[head] - max_score);
      std::fill(o, o + kv.v_head_dim, 0.0f);
      for (std::int64_t j = 0; j < n_keys; ++j) {
        const std::int64_t slot = (first + j) % kv.capacity;
        axpy(scores[j] / denominator, kv.values + (slot * kv.kv_heads + kv_head) * kv.v_head_dim, o,
             kv.v_head_dim);
      }
    }
  }
}

// Prefill and verify steps score a block of queries x a kv head's query heads per key; each
// output must keep the bits of the former kernel, for every pool size (which sets the query
// blocks), head ranges cutting a GQA group, rings that wrap, and kv heads serving > 16 heads.
TEST_CASE("attention keeps the former kernel's bits for blocks of queries") {
  Rng rng(21);
  struct Shape {
    int heads, kv_heads, dim, v_dim, window;
    std::int64_t capacity;  // 64: linear; smaller: a ring of window + queries - 1 slots
  };
  const int queries = 11;
  const Shape shapes[] = {
      {6, 2, 20, 12, 0, 64},
      {6, 2, 20, 12, 3, 64},
      {6, 2, 20, 12, 16, 64},
      {6, 2, 20, 12, 5, 5 + queries - 1},  // a ring that has wrapped several times
      {20, 1, 8, 8, 7, 64},                // 20 query heads on one kv head: a job per head
  };
  const std::int64_t history = 40;
  for (const Shape& sh : shapes) {
    std::vector<float> keys(sh.capacity * sh.kv_heads * sh.dim),
        values(sh.capacity * sh.kv_heads * sh.v_dim);
    const std::int64_t ks = sh.kv_heads * sh.dim, vs = sh.kv_heads * sh.v_dim;
    for (std::int64_t p = 0; p < history; ++p) {  // written in position order, as the cache does
      const std::vector<float> k = testing::random_vector(rng, ks, 2.0f);
      const std::vector<float> v = testing::random_vector(rng, vs);
      std::copy(k.begin(), k.end(), keys.begin() + (p % sh.capacity) * ks);
      std::copy(v.begin(), v.end(), values.begin() + (p % sh.capacity) * vs);
    }
    const std::vector<float> q = testing::random_vector(rng, queries * sh.heads * sh.dim, 2.0f);
    const std::vector<float> sinks = testing::random_vector(rng, sh.heads, 2.0f);
    KvLayerView view{keys.data(), values.data(), sh.capacity, sh.kv_heads, sh.dim, sh.v_dim};
    AttentionParams params;
    params.num_heads = sh.heads;
    params.window = sh.window;
    params.sinks = sinks.data();
    const std::int64_t first_pos = history - queries;
    for (const int threads : {1, 2, 5}) {
      ThreadPool pool(threads);
      for (const auto& [h0, h1] : {std::pair{0, sh.heads}, std::pair{1, sh.heads - 1}}) {
        std::vector<float> got(queries * sh.heads * sh.v_dim, -7.0f), want(got.size(), -7.0f);
        attention_heads(pool, view, params, q.data(), queries, first_pos, got.data(), h0, h1);
        plain_attention(view, params, q.data(), queries, first_pos, want.data(), h0, h1);
        INFO("heads " << sh.heads << " / " << sh.kv_heads << ", window " << sh.window
                      << ", capacity " << sh.capacity << ", threads " << threads << ", heads ["
                      << h0 << ", " << h1 << ")");
        CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
      }
    }
  }
}

}  // namespace
}  // namespace mimo::cpu
