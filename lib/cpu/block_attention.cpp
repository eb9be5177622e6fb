// The drafter's non-causal block attention (see block_attention.hpp).
#include "cpu/block_attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "cpu/dot.hpp"

namespace mimo::cpu {

void block_attention(ThreadPool& pool, const ContextView& context,
                     const BlockAttentionParams& params, const float* q, const float* k,
                     const float* v, int block, std::int64_t anchor_position, float* out,
                     int head_begin, int head_end) {
  const int heads = params.num_heads, kv = params.num_kv_heads, hd = params.head_dim;
  const int vhd = params.v_head_dim, group = heads / kv, b = block;
  const std::int64_t* positions = context.positions;
  const std::int64_t n_ctx =
      std::lower_bound(positions, positions + context.rows, anchor_position) - positions;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int span = head_end - head_begin;
  pool.parallel_for(std::int64_t{b} * span, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scores(static_cast<std::size_t>(n_ctx + b));
    std::vector<float> acc(static_cast<std::size_t>(vhd));
    for (std::int64_t job = begin; job < end; ++job) {
      const int i = static_cast<int>(job / span), h = head_begin + static_cast<int>(job % span);
      const int g = h / group;
      const std::int64_t qpos = anchor_position + i;
      const float* qh = q + (std::int64_t{i} * heads + h) * hd;
      float max_score = params.sinks ? params.sinks[h] : -std::numeric_limits<float>::infinity();
      for (std::int64_t j = 0; j < n_ctx + b; ++j) {
        const std::int64_t kpos = j < n_ctx ? positions[j] : anchor_position + (j - n_ctx);
        if (std::llabs(qpos - kpos) > params.window) {
          scores[j] = -std::numeric_limits<float>::infinity();
          continue;
        }
        const float* kh =
            j < n_ctx ? context.keys + (j * kv + g) * hd : k + ((j - n_ctx) * kv + g) * hd;
        scores[j] = dot(qh, kh, hd) * scale;
        max_score = std::max(max_score, scores[j]);
      }
      float denom = params.sinks ? std::exp(params.sinks[h] - max_score) : 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (std::int64_t j = 0; j < n_ctx + b; ++j) {
        if (scores[j] == -std::numeric_limits<float>::infinity()) continue;
        const float p = std::exp(scores[j] - max_score);
        denom += p;
        const float* vh =
            j < n_ctx ? context.values + (j * kv + g) * vhd : v + ((j - n_ctx) * kv + g) * vhd;
        axpy(p, vh, acc.data(), vhd);
      }
      float* o = out + (std::int64_t{i} * heads + h) * vhd;
      for (int d = 0; d < vhd; ++d) o[d] = acc[d] / denom * params.value_scale;
    }
  });
}

}  // namespace mimo::cpu
