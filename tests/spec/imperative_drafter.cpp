// The imperative DFlash drafter (see imperative_drafter.hpp).
#include "imperative_drafter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/dot.hpp"
#include "cpu/embedding.hpp"
#include "cpu/linear.hpp"
#include "cpu/mlp.hpp"
#include "cpu/rmsnorm.hpp"
#include "mimo/error.hpp"

namespace mimo::spec::testing {

ImperativeDrafter::ImperativeDrafter(const model::DrafterConfig& config,
                                     const spec::DrafterWeights& weights,
                                     const model::ModelConfig& target,
                                     const model::ModelWeights& target_weights, int block_size,
                                     cpu::ThreadPool& pool)
    : config_(config),
      weights_(weights),
      target_(target),
      target_weights_(target_weights),
      block_size_(block_size),
      pool_(pool),
      rope_(config.frequency_dim(), config.rope_theta),
      keys_(config.num_layers),
      values_(config.num_layers) {}

bool ImperativeDrafter::sliding(int layer) const {
  if (!config_.sliding_window) return false;
  if (config_.layer_types.empty()) return true;
  return config_.layer_types[layer] == model::AttentionKind::kSliding;
}

void ImperativeDrafter::norm_and_rope(float* x, std::int64_t n, int heads,
                                      const std::vector<float>& weight,
                                      const std::int64_t* positions) const {
  const int hd = config_.head_dim;
  cpu::rmsnorm(x, weight.data(), static_cast<int>(n * heads), hd, config_.rms_norm_eps, x);
  for (std::int64_t i = 0; i < n; ++i) rope_.apply(x + i * heads * hd, heads, hd, positions[i]);
}

std::vector<float> ImperativeDrafter::project_context(const float* features,
                                                      std::int64_t rows) const {
  const std::int64_t h = config_.hidden_size;
  std::vector<float> ctx(static_cast<std::size_t>(rows * h));
  cpu::linear(pool_, weights_.fc, features, static_cast<int>(rows), ctx.data());
  cpu::rmsnorm(ctx.data(), weights_.context_norm.data(), static_cast<int>(rows), h,
               config_.rms_norm_eps, ctx.data());
  return ctx;
}

void ImperativeDrafter::add_context(std::int64_t first_position, const float* features,
                                    std::int64_t rows) {
  if (rows <= 0) return;
  if (!positions_.empty() && first_position <= positions_.back()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("DFlash drafter: context position {} is not after the cached {}",
                            first_position, positions_.back()));
  }
  std::vector<float> ctx = project_context(features, rows);
  std::vector<std::int64_t> pos(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) pos[i] = first_position + i;
  const int kv = config_.num_kv_heads, hd = config_.head_dim, vhd = config_.v_head_dim;
  std::vector<float> k(static_cast<std::size_t>(rows * kv * hd));
  std::vector<float> v(static_cast<std::size_t>(rows * kv * vhd));
  for (int l = 0; l < config_.num_layers; ++l) {
    const spec::DrafterLayerWeights& lw = weights_.layers[l];
    cpu::linear(pool_, lw.k, ctx.data(), static_cast<int>(rows), k.data());
    cpu::linear(pool_, lw.v, ctx.data(), static_cast<int>(rows), v.data());
    norm_and_rope(k.data(), rows, kv, lw.k_norm, pos.data());
    keys_[l].insert(keys_[l].end(), k.begin(), k.end());
    values_[l].insert(values_[l].end(), v.begin(), v.end());
  }
  positions_.insert(positions_.end(), pos.begin(), pos.end());
}

void ImperativeDrafter::truncate(std::int64_t length) {
  auto keep = std::lower_bound(positions_.begin(), positions_.end(), length) - positions_.begin();
  positions_.resize(static_cast<std::size_t>(keep));
  const std::size_t kv = static_cast<std::size_t>(config_.num_kv_heads);
  for (int l = 0; l < config_.num_layers; ++l) {
    keys_[l].resize(keep * kv * config_.head_dim);
    values_[l].resize(keep * kv * config_.v_head_dim);
  }
}

// Queries of the block see every context key below the anchor and every block key (non-causal);
// sliding layers additionally require |query position - key position| <= window (transformers'
// bidirectional sliding mask). V is scaled by attention_value_scale; an optional per-head sink
// logit joins the softmax denominator.
void ImperativeDrafter::attention(int layer, const float* q, const float* k_block,
                                  const float* v_block, std::int64_t anchor_position,
                                  float* out) const {
  const int heads = config_.num_heads, kv = config_.num_kv_heads, hd = config_.head_dim;
  const int vhd = config_.v_head_dim, group = heads / kv, b = block_size_;
  const std::int64_t n_ctx =
      std::lower_bound(positions_.begin(), positions_.end(), anchor_position) - positions_.begin();
  const float* k_ctx = keys_[layer].data();
  const float* v_ctx = values_[layer].data();
  const std::int64_t window =
      sliding(layer) ? *config_.sliding_window : std::numeric_limits<std::int64_t>::max();
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const float v_scale = static_cast<float>(config_.attention_value_scale);
  const float* sinks =
      weights_.layers[layer].sink.empty() ? nullptr : weights_.layers[layer].sink.data();
  pool_.parallel_for(std::int64_t{b} * heads, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scores(static_cast<std::size_t>(n_ctx + b));
    std::vector<float> acc(static_cast<std::size_t>(vhd));
    for (std::int64_t job = begin; job < end; ++job) {
      const int i = static_cast<int>(job / heads), h = static_cast<int>(job % heads);
      const int g = h / group;
      const std::int64_t qpos = anchor_position + i;
      const float* qh = q + (std::int64_t{i} * heads + h) * hd;
      float max_score = sinks ? sinks[h] : -std::numeric_limits<float>::infinity();
      for (std::int64_t j = 0; j < n_ctx + b; ++j) {
        const std::int64_t kpos = j < n_ctx ? positions_[j] : anchor_position + (j - n_ctx);
        if (std::llabs(qpos - kpos) > window) {
          scores[j] = -std::numeric_limits<float>::infinity();
          continue;
        }
        const float* kh =
            j < n_ctx ? k_ctx + (j * kv + g) * hd : k_block + ((j - n_ctx) * kv + g) * hd;
        scores[j] = cpu::dot(qh, kh, hd) * scale;
        max_score = std::max(max_score, scores[j]);
      }
      float denom = sinks ? std::exp(sinks[h] - max_score) : 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (std::int64_t j = 0; j < n_ctx + b; ++j) {
        if (scores[j] == -std::numeric_limits<float>::infinity()) continue;
        const float p = std::exp(scores[j] - max_score);
        denom += p;
        const float* vh =
            j < n_ctx ? v_ctx + (j * kv + g) * vhd : v_block + ((j - n_ctx) * kv + g) * vhd;
        cpu::axpy(p, vh, acc.data(), vhd);
      }
      float* o = out + (std::int64_t{i} * heads + h) * vhd;
      for (int d = 0; d < vhd; ++d) o[d] = acc[d] / denom * v_scale;
    }
  });
}

std::vector<float> ImperativeDrafter::block_hidden(std::int32_t anchor,
                                                   std::int64_t anchor_position) const {
  const int b = block_size_;
  const std::int64_t h = config_.hidden_size;
  const int heads = config_.num_heads, kv = config_.num_kv_heads;
  const int hd = config_.head_dim, vhd = config_.v_head_dim;
  std::vector<std::int32_t> ids(b, config_.mask_token_id);
  ids[0] = anchor;
  std::vector<float> x(static_cast<std::size_t>(b * h)), normed(x.size()), delta(x.size());
  cpu::embed(target_weights_.embed, ids, x.data());
  if (!weights_.mask_embedding.empty()) {
    for (int i = 1; i < b; ++i) {
      std::copy(weights_.mask_embedding.begin(), weights_.mask_embedding.end(),
                x.begin() + static_cast<std::ptrdiff_t>(i * h));
    }
  }
  std::vector<std::int64_t> pos(b);
  for (int i = 0; i < b; ++i) pos[i] = anchor_position + i;
  std::vector<float> q(static_cast<std::size_t>(b) * heads * hd);
  std::vector<float> k(static_cast<std::size_t>(b) * kv * hd);
  std::vector<float> v(static_cast<std::size_t>(b) * kv * vhd);
  std::vector<float> attn(static_cast<std::size_t>(b) * heads * vhd);
  for (int l = 0; l < config_.num_layers; ++l) {
    const spec::DrafterLayerWeights& lw = weights_.layers[l];
    cpu::rmsnorm(x.data(), lw.input_norm.data(), b, h, config_.rms_norm_eps, normed.data());
    cpu::linear(pool_, lw.q, normed.data(), b, q.data());
    cpu::linear(pool_, lw.k, normed.data(), b, k.data());
    cpu::linear(pool_, lw.v, normed.data(), b, v.data());
    norm_and_rope(q.data(), b, heads, lw.q_norm, pos.data());
    norm_and_rope(k.data(), b, kv, lw.k_norm, pos.data());
    attention(l, q.data(), k.data(), v.data(), anchor_position, attn.data());
    cpu::linear(pool_, lw.o, attn.data(), b, delta.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
    cpu::rmsnorm(x.data(), lw.post_attention_norm.data(), b, h, config_.rms_norm_eps,
                 normed.data());
    cpu::gated_mlp(pool_, lw.mlp, normed.data(), b, delta.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
  }
  cpu::rmsnorm(x.data(), weights_.final_norm.data(), b, h, config_.rms_norm_eps, x.data());
  return x;
}

std::vector<float> ImperativeDrafter::logits(std::int32_t anchor, std::int64_t anchor_position,
                                             int count) const {
  count = std::clamp(count, 0, block_size_ - 1);
  if (count == 0) return {};
  const std::int64_t h = config_.hidden_size;
  std::vector<float> hidden = block_hidden(anchor, anchor_position);
  std::vector<float> out(static_cast<std::size_t>(count * target_.vocab_size));
  cpu::linear(pool_, target_weights_.lm_head, hidden.data() + h, count, out.data());
  return out;
}

std::vector<std::int32_t> ImperativeDrafter::propose(std::int32_t anchor,
                                                     std::int64_t anchor_position,
                                                     int count) const {
  const std::int64_t vocab = target_.vocab_size;
  const std::vector<float> rows = logits(anchor, anchor_position, count);
  std::vector<std::int32_t> drafts(rows.size() / static_cast<std::size_t>(vocab));
  for (std::size_t i = 0; i < drafts.size(); ++i) {
    const float* row = rows.data() + i * vocab;
    drafts[i] = static_cast<std::int32_t>(std::max_element(row, row + vocab) - row);
  }
  return drafts;
}

}  // namespace mimo::spec::testing
