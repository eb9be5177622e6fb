// Attention against a float64 reference: GQA, sliding window over a ring, sinks, dv != dk.
#include "cpu/attention.hpp"

#include <cmath>
#include <cstring>

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

// Prefill and verify steps score a block of queries x a kv head's query heads per key; each
// output must keep the bits of the one-query path (and of a head range cutting a GQA group).
TEST_CASE("attention of a block of queries equals its queries one at a time, bit for bit") {
  Rng rng(21);
  ThreadPool pool(2);
  const int heads = 6, kv_heads = 2, dim = 20, v_dim = 12, queries = 11;
  const std::int64_t history = 40, capacity = 64;
  for (const int window : {0, 3, 16}) {
    const std::vector<float> keys = testing::random_vector(rng, capacity * kv_heads * dim, 2.0f);
    const std::vector<float> values = testing::random_vector(rng, capacity * kv_heads * v_dim);
    const std::vector<float> q = testing::random_vector(rng, queries * heads * dim, 2.0f);
    const std::vector<float> sinks = testing::random_vector(rng, heads, 2.0f);
    KvLayerView view{keys.data(), values.data(), capacity, kv_heads, dim, v_dim};
    AttentionParams params;
    params.num_heads = heads;
    params.window = window;
    params.sinks = sinks.data();
    const std::int64_t first_pos = history - queries;
    std::vector<float> block(queries * heads * v_dim, 0.0f), one(block.size(), 0.0f);
    attention(pool, view, params, q.data(), queries, first_pos, block.data());
    for (int i = 0; i < queries; ++i) {
      attention(pool, view, params, q.data() + i * heads * dim, 1, first_pos + i,
                one.data() + i * heads * v_dim);
    }
    INFO("window " << window);
    CHECK(std::memcmp(block.data(), one.data(), block.size() * sizeof(float)) == 0);
    // Heads 2..4: kv head 0's last head and kv head 1's first two; the rest untouched.
    std::vector<float> part(block.size(), -7.0f);
    attention_heads(pool, view, params, q.data(), queries, first_pos, part.data(), 2, 5);
    for (int i = 0; i < queries; ++i) {
      for (int h = 0; h < heads; ++h) {
        const float* got = part.data() + (i * heads + h) * v_dim;
        const float* want = one.data() + (i * heads + h) * v_dim;
        INFO("query " << i << ", head " << h);
        if (h >= 2 && h < 5) {
          CHECK(std::memcmp(got, want, v_dim * sizeof(float)) == 0);
        } else {
          CHECK(got[0] == -7.0f);
        }
      }
    }
  }
}

}  // namespace
}  // namespace mimo::cpu
