// The drafter's non-causal block attention (see block_attention.hpp). A job takes up to four
// block queries x the query heads of one kv head and scores each key once for all of them (two
// keys x four vectors a pass); each (query, head) output is still the same operations in the same
// order as one query and head alone: scores in key order, the sink's term first in the
// denominator, then each visible key's weight added to the denominator and its value to the sum.
#include "cpu/block_attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "cpu/attention_pieces.hpp"
#include "cpu/weight_rows_avx2.hpp"

namespace mimo::cpu {
namespace {

struct Job {
  int i0, nq;  // block queries [i0, i0 + nq)
  int h0, h1;  // query heads [h0, h1), all of kv head g
  int g;
};

struct Scratch {
  std::vector<float> scores;  // [vectors][keys]
  std::vector<float> max_score, denom, acc;
};

}  // namespace

void block_attention(ThreadPool& pool, const ContextView& context,
                     const BlockAttentionParams& params, const float* q, const float* k,
                     const float* v, int block, std::int64_t anchor_position, float* out,
                     int head_begin, int head_end) {
  const int heads = params.num_heads, kv = params.num_kv_heads, hd = params.head_dim;
  const int vhd = params.v_head_dim, group = heads / kv, b = block;
  const std::int64_t* positions = context.positions;
  const std::int64_t n_ctx =
      std::lower_bound(positions, positions + context.rows, anchor_position) - positions;
  // Context keys below anchor - window are outside every query's window (queries sit at or
  // after the anchor): not scored at all.
  const std::int64_t lowest =
      params.window >= anchor_position ? 0 : anchor_position - params.window;
  const std::int64_t j_begin = std::lower_bound(positions, positions + n_ctx, lowest) - positions;
  const std::int64_t n_keys = n_ctx + b - j_begin;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const bool use_avx2 = avx2::enabled();
  const auto key_position = [&](std::int64_t j) {
    return j < n_ctx ? positions[j] : anchor_position + (j - n_ctx);
  };
  const auto key = [&](std::int64_t j, int g) {
    return j < n_ctx ? context.keys + (j * kv + g) * hd : k + ((j - n_ctx) * kv + g) * hd;
  };
  const auto value = [&](std::int64_t j, int g) {
    return j < n_ctx ? context.values + (j * kv + g) * vhd : v + ((j - n_ctx) * kv + g) * vhd;
  };
  // Jobs: blocks of queries x the heads of one kv head within [head_begin, head_end) (a job a
  // (query, head) where a kv head serves more heads than a job holds).
  std::vector<Job> jobs;
  // Blocks shorter than kQueryBlock where that many would leave some of the pool's threads idle.
  const int kv_touched = (head_end - 1) / group - head_begin / group + 1;
  const int per_job =
      group <= kMaxGroupHeads ? std::clamp(b * kv_touched / pool.size(), 1, kQueryBlock) : 1;
  for (int i0 = 0; i0 < b; i0 += per_job) {
    for (int h0 = head_begin; h0 < head_end;) {
      const int g = h0 / group;
      const int h1 = group <= kMaxGroupHeads ? std::min(head_end, (g + 1) * group) : h0 + 1;
      jobs.push_back({i0, std::min(per_job, b - i0), h0, h1, g});
      h0 = h1;
    }
  }
  pool.parallel_for(
      static_cast<std::int64_t>(jobs.size()), [&](std::int64_t begin, std::int64_t end) {
        Scratch s;
        for (std::int64_t index = begin; index < end; ++index) {
          const Job& job = jobs[index];
          const int nh = job.h1 - job.h0, n = job.nq * nh;
          const float* vec[kQueryBlock * kMaxGroupHeads];
          for (int t = 0; t < n; ++t) {
            vec[t] = q + ((std::int64_t{job.i0} + t / nh) * heads + job.h0 + t % nh) * hd;
          }
          s.scores.resize(static_cast<std::size_t>(n) * n_keys);
          score_keys([&](std::int64_t j) { return key(j_begin + j, job.g); }, n_keys, vec, n, hd,
                     use_avx2, s.scores.data());
          s.max_score.assign(n, 0.0f);
          s.denom.assign(n, 0.0f);
          s.acc.assign(static_cast<std::size_t>(n) * vhd, 0.0f);
          // Each vector's scores: out-of-window keys -inf (skipped below), the rest scaled.
          for (int t = 0; t < n; ++t) {
            const int h = job.h0 + t % nh;
            const std::int64_t qpos = anchor_position + job.i0 + t / nh;
            float m = params.sinks ? params.sinks[h] : -std::numeric_limits<float>::infinity();
            float* row = s.scores.data() + t * n_keys;
            for (std::int64_t j = 0; j < n_keys; ++j) {
              if (std::llabs(qpos - key_position(j_begin + j)) > params.window) {
                row[j] = -std::numeric_limits<float>::infinity();
              } else {
                row[j] = row[j] * scale;
                m = std::max(m, row[j]);
              }
            }
            s.max_score[t] = m;
            s.denom[t] = params.sinks ? std::exp(params.sinks[h] - m) : 0.0f;
          }
          for (std::int64_t j = 0; j < n_keys; ++j) {
            const float* vh = value(j_begin + j, job.g);
            for (int t = 0; t < n; ++t) {
              const float z = s.scores[t * n_keys + j];
              if (z == -std::numeric_limits<float>::infinity()) continue;
              const float p = std::exp(z - s.max_score[t]);
              s.denom[t] += p;
              add_weighted(use_avx2, p, vh, s.acc.data() + t * vhd, vhd);
            }
          }
          for (int t = 0; t < n; ++t) {
            const int i = job.i0 + t / nh, h = job.h0 + t % nh;
            float* o = out + (std::int64_t{i} * heads + h) * vhd;
            const float* acc = s.acc.data() + t * vhd;
            for (int d = 0; d < vhd; ++d) o[d] = acc[d] / s.denom[t] * params.value_scale;
          }
        }
      });
}

}  // namespace mimo::cpu
