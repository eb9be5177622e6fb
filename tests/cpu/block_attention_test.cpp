// block_attention (the drafter's non-causal block attention) against the plain form it replaced
// - one (query, head) at a time, keys in order - bit for bit, and against a float64 reference.
#include "cpu/block_attention.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/dot.hpp"
#include "random_weights.hpp"
#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

using testing::Rng;

struct Inputs {
  int heads, kv, hd, vhd, block;
  std::int64_t window;
  bool sinks;
  std::vector<std::int64_t> positions;  // context rows (some at or after the anchor)
  std::vector<float> ctx_k, ctx_v, q, k, v, sink_logits;
  std::int64_t anchor;
  ContextView view() const {
    return {positions.data(), ctx_k.data(), ctx_v.data(),
            static_cast<std::int64_t>(positions.size())};
  }
  BlockAttentionParams params() const {
    BlockAttentionParams p;
    p.num_heads = heads;
    p.num_kv_heads = kv;
    p.head_dim = hd;
    p.v_head_dim = vhd;
    p.window = window;
    p.value_scale = 0.75f;
    p.sinks = sinks ? sink_logits.data() : nullptr;
    return p;
  }
};

Inputs make(Rng& rng, int heads, int kv, int hd, int vhd, int block, std::int64_t window,
            bool sinks) {
  Inputs in{heads, kv, hd, vhd, block, window, sinks, {}, {}, {}, {}, {}, {}, {}, 0};
  // Context at positions 0, 2, 3, 5, ... (gaps, as after rollbacks), two rows past the anchor.
  for (std::int64_t p = 0; p < 60; ++p) {
    if (p % 4 != 1) in.positions.push_back(p);
  }
  in.anchor = 55;
  const std::int64_t rows = static_cast<std::int64_t>(in.positions.size());
  in.ctx_k = testing::random_vector(rng, rows * kv * hd, 2.0f);
  in.ctx_v = testing::random_vector(rng, rows * kv * vhd);
  in.q = testing::random_vector(rng, block * heads * hd, 2.0f);
  in.k = testing::random_vector(rng, block * kv * hd, 2.0f);
  in.v = testing::random_vector(rng, block * kv * vhd);
  in.sink_logits = testing::random_vector(rng, heads, 2.0f);
  return in;
}

// The kernel as it was before it scored keys for several queries at once.
void plain_block_attention(const Inputs& in, float* out, int head_begin, int head_end) {
  const BlockAttentionParams params = in.params();
  const int group = in.heads / in.kv;
  std::int64_t n_ctx = 0;
  while (n_ctx < static_cast<std::int64_t>(in.positions.size()) &&
         in.positions[n_ctx] < in.anchor) {
    ++n_ctx;
  }
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(in.hd)));
  std::vector<float> scores(n_ctx + in.block), acc(in.vhd);
  for (int i = 0; i < in.block; ++i) {
    for (int h = head_begin; h < head_end; ++h) {
      const int g = h / group;
      const std::int64_t qpos = in.anchor + i;
      const float* qh = in.q.data() + (std::int64_t{i} * in.heads + h) * in.hd;
      float max_score = params.sinks ? params.sinks[h] : -std::numeric_limits<float>::infinity();
      for (std::int64_t j = 0; j < n_ctx + in.block; ++j) {
        const std::int64_t kpos = j < n_ctx ? in.positions[j] : in.anchor + (j - n_ctx);
        if (std::llabs(qpos - kpos) > params.window) {
          scores[j] = -std::numeric_limits<float>::infinity();
          continue;
        }
        const float* kh = j < n_ctx ? in.ctx_k.data() + (j * in.kv + g) * in.hd
                                    : in.k.data() + ((j - n_ctx) * in.kv + g) * in.hd;
        scores[j] = dot(qh, kh, in.hd) * scale;
        max_score = std::max(max_score, scores[j]);
      }
      float denom = params.sinks ? std::exp(params.sinks[h] - max_score) : 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (std::int64_t j = 0; j < n_ctx + in.block; ++j) {
        if (scores[j] == -std::numeric_limits<float>::infinity()) continue;
        const float p = std::exp(scores[j] - max_score);
        denom += p;
        const float* vh = j < n_ctx ? in.ctx_v.data() + (j * in.kv + g) * in.vhd
                                    : in.v.data() + ((j - n_ctx) * in.kv + g) * in.vhd;
        axpy(p, vh, acc.data(), in.vhd);
      }
      float* o = out + (std::int64_t{i} * in.heads + h) * in.vhd;
      for (int d = 0; d < in.vhd; ++d) o[d] = acc[d] / denom * params.value_scale;
    }
  }
}

TEST_CASE("block attention keeps the bits of one query and head at a time") {
  Rng rng(31);
  struct Shape {
    int heads, kv, hd, vhd, block;
    std::int64_t window;
    bool sinks;
  };
  const Shape shapes[] = {
      {4, 2, 64, 64, 8, std::numeric_limits<std::int64_t>::max(), false},  // the demo drafter's
      {4, 2, 20, 12, 8, 6, true},   // a short window: most context keys unseen
      {8, 1, 16, 8, 5, 30, true},   // one kv head for 8 query heads, a ragged query block
      {6, 6, 12, 12, 3, 0, false},  // window 0: each query sees only its own key
      {20, 1, 8, 8, 2, 100, true},  // more heads a kv head than a job holds
      {4, 2, 9, 7, 1, 1000, true},  // odd dims, a block of one
  };
  for (const Shape& sh : shapes) {
    const Inputs in = make(rng, sh.heads, sh.kv, sh.hd, sh.vhd, sh.block, sh.window, sh.sinks);
    INFO("heads " << sh.heads << " / " << sh.kv << ", block " << sh.block << ", window "
                  << sh.window);
    // The pool's size sets the query blocks a job takes (4, or fewer to feed every thread).
    for (const int threads : {1, 2, 5})
      for (const auto& [h0, h1] : {std::pair{0, sh.heads}, std::pair{1, sh.heads - 1}}) {
        if (h0 >= h1) continue;
        ThreadPool pool(threads);
        std::vector<float> got(sh.block * sh.heads * sh.vhd, -3.0f), want(got.size(), -3.0f);
        block_attention(pool, in.view(), in.params(), in.q.data(), in.k.data(), in.v.data(),
                        sh.block, in.anchor, got.data(), h0, h1);
        plain_block_attention(in, want.data(), h0, h1);
        INFO("threads " << threads << ", heads [" << h0 << ", " << h1 << ")");
        CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
      }
  }
}

TEST_CASE("block attention matches a float64 reference") {
  Rng rng(32);
  ThreadPool pool(2);
  const Inputs in = make(rng, 4, 2, 16, 8, 6, 12, true);
  std::vector<float> got(6 * 4 * 8);
  block_attention(pool, in.view(), in.params(), in.q.data(), in.k.data(), in.v.data(), 6, in.anchor,
                  got.data(), 0, 4);
  for (int i = 0; i < 6; ++i) {
    for (int h = 0; h < 4; ++h) {
      const int g = h / 2;
      const std::int64_t qpos = in.anchor + i;
      std::vector<double> z;
      std::vector<const float*> values;
      auto consider = [&](std::int64_t kpos, const float* key, const float* value) {
        if (std::llabs(qpos - kpos) > 12) return;
        double s = 0;
        for (int d = 0; d < 16; ++d) s += double(in.q[(i * 4 + h) * 16 + d]) * key[d];
        z.push_back(s / 4.0);
        values.push_back(value);
      };
      for (std::size_t j = 0; j < in.positions.size() && in.positions[j] < in.anchor; ++j) {
        consider(in.positions[j], in.ctx_k.data() + (j * 2 + g) * 16,
                 in.ctx_v.data() + (j * 2 + g) * 8);
      }
      for (int j = 0; j < 6; ++j) {
        consider(in.anchor + j, in.k.data() + (j * 2 + g) * 16, in.v.data() + (j * 2 + g) * 8);
      }
      double m = in.sink_logits[h];
      for (double s : z) m = std::max(m, s);
      double denom = std::exp(in.sink_logits[h] - m);
      for (double s : z) denom += std::exp(s - m);
      for (int d = 0; d < 8; ++d) {
        double ref = 0;
        for (std::size_t n = 0; n < z.size(); ++n) ref += std::exp(z[n] - m) / denom * values[n][d];
        CHECK(std::abs(got[(i * 4 + h) * 8 + d] - 0.75 * ref) <= 2e-6);
      }
    }
  }
}

}  // namespace
}  // namespace mimo::cpu
