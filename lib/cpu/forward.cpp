// The forward pass, step by step as in docs (MIMO.md "Forward"):
//   x = embed(tokens)
//   per layer: h = rmsnorm(x) * w_in; x += o_proj(attention(rope(q), rope(k), v * value_scale))
//              h = rmsnorm(x) * w_post; x += dense MLP or MoE(h)
//   logits = lm_head(rmsnorm(x) * w_final)
#include "cpu/forward.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cpu/attention.hpp"
#include "cpu/embedding.hpp"
#include "cpu/linear.hpp"
#include "cpu/mlp.hpp"
#include "cpu/rmsnorm.hpp"
#include "cpu/router.hpp"
#include "cpu/weight_rows.hpp"
#include "mimo/error.hpp"

namespace mimo::cpu {
namespace {

void check_shape(const model::LinearWeight& w, std::int64_t rows, std::int64_t cols) {
  validate_linear(w);
  if (w.rows != rows || w.cols != cols) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("weight '{}': shape [{}, {}], the config implies [{}, {}]", w.name,
                            w.rows, w.cols, rows, cols));
  }
}

void check_mlp(const model::ExpertWeights& mlp, std::int64_t hidden, std::int64_t inter) {
  check_shape(mlp.gate, inter, hidden);
  check_shape(mlp.up, inter, hidden);
  check_shape(mlp.down, hidden, inter);
}

}  // namespace

Forward::Forward(const model::ModelConfig& config, const model::ModelWeights& weights,
                 ThreadPool& pool)
    : config_(config),
      weights_(weights),
      pool_(pool),
      full_rope_(config.full.rotary_dim, config.full.rope_theta),
      sliding_rope_(config.sliding.rotary_dim, config.sliding.rope_theta) {
  const std::int64_t hidden = config.hidden_size;
  if (static_cast<int>(weights.layers.size()) != config.num_layers ||
      static_cast<int>(config.layers.size()) != config.num_layers) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("forward: config has {} layers, weights bind {}", config.num_layers,
                            weights.layers.size()));
  }
  check_shape(weights.embed, config.vocab_size, hidden);
  check_shape(weights.lm_head, config.vocab_size, hidden);
  final_norm_ = to_floats(weights.final_norm, hidden);
  const bool any_moe = std::any_of(config.layers.begin(), config.layers.end(),
                                   [](auto& l) { return l.mlp == model::MlpKind::kMoe; });
  if (any_moe) {
    const int per_group = config.n_group > 0 ? config.n_routed_experts / config.n_group : 0;
    if (config.n_group < 1 || config.n_routed_experts % config.n_group != 0 ||
        config.topk_group < 1 || config.topk_group > config.n_group ||
        config.num_experts_per_tok < 1 ||
        config.num_experts_per_tok > config.topk_group * per_group) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: router of {} experts in {} groups, top-{} groups, top-{} "
                              "experts is not a valid selection",
                              config.n_routed_experts, config.n_group, config.topk_group,
                              config.num_experts_per_tok));
    }
  }
  params_.resize(config.num_layers);
  for (int l = 0; l < config.num_layers; ++l) {
    const model::LayerWeights& w = weights.layers[l];
    const model::AttentionSpec& a = config.attention(l);
    LayerParams& p = params_[l];
    p.input_norm = to_floats(w.input_norm, hidden);
    p.post_attention_norm = to_floats(w.post_attention_norm, hidden);
    check_shape(w.q, std::int64_t{a.num_heads} * a.head_dim, hidden);
    check_shape(w.k, std::int64_t{a.num_kv_heads} * a.head_dim, hidden);
    check_shape(w.v, std::int64_t{a.num_kv_heads} * a.v_head_dim, hidden);
    check_shape(w.o, hidden, std::int64_t{a.num_heads} * a.v_head_dim);
    if (a.num_kv_heads < 1 || a.num_heads % a.num_kv_heads != 0 || a.rotary_dim % 2 != 0 ||
        a.rotary_dim > a.head_dim) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("layer {}: {} heads over {} kv heads, rotary_dim {} of head_dim {}",
                              l, a.num_heads, a.num_kv_heads, a.rotary_dim, a.head_dim));
    }
    if (a.has_sink) {
      if (!w.sink) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("layer {}: the config asks for attention sinks, none bound", l));
      }
      p.sink = to_floats(*w.sink, a.num_heads);
    }
    if (config.layers[l].mlp == model::MlpKind::kDense) {
      if (!w.dense) {
        throw Error(ErrorCode::kInvalidArgument, fmt::format("layer {}: dense MLP not bound", l));
      }
      check_mlp(*w.dense, hidden, config.intermediate_size);
    } else {
      if (!w.router || static_cast<int>(w.experts.size()) != config.n_routed_experts) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("layer {}: MoE needs a router and {} experts, {} bound", l,
                                config.n_routed_experts, w.experts.size()));
      }
      check_shape(*w.router, config.n_routed_experts, hidden);
      if (w.router_bias) p.router_bias = to_floats(*w.router_bias, config.n_routed_experts);
      for (const model::ExpertWeights& e : w.experts) {
        check_mlp(e, hidden, config.moe_intermediate_size);
      }
    }
  }
}

void Forward::validate(const KvCache& cache, std::span<const std::int32_t> tokens,
                       const ForwardOptions& options) const {
  if (tokens.empty()) throw Error(ErrorCode::kInvalidArgument, "forward: no tokens given");
  if (cache.num_layers() != config_.num_layers) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("forward: KV cache has {} layers, the model {}", cache.num_layers(),
                            config_.num_layers));
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: token {} at index {} is outside the vocabulary [0, {})",
                              tokens[i], i, config_.vocab_size));
    }
  }
  const std::int64_t needed = cache.length() + static_cast<std::int64_t>(tokens.size());
  if (needed > cache.max_context()) {
    throw Error(ErrorCode::kOutOfRange,
                fmt::format("forward: {} cached + {} new tokens exceed the context of {}",
                            cache.length(), tokens.size(), cache.max_context()));
  }
  for (int tap : options.hidden_taps) {
    if (tap < 0 || tap >= config_.num_layers) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: hidden tap {} is not a layer index [0, {})", tap,
                              config_.num_layers));
    }
  }
}

void Forward::check_cancel(const ForwardOptions& options) const {
  if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
    throw Error(ErrorCode::kCancelled, "forward: cancelled");
  }
}

ForwardOutput Forward::run(KvCache& cache, std::span<const std::int32_t> tokens,
                           const ForwardOptions& options) {
  validate(cache, tokens, options);
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  const int chunk = options.max_chunk > 0 ? std::min(options.max_chunk, cache.max_step_tokens())
                                          : cache.max_step_tokens();
  ForwardOutput out;
  out.logits.resize((options.all_logits ? total : 1) * config_.vocab_size);
  out.hidden.resize(total * options.hidden_taps.size() * config_.hidden_size);
  const KvCache::Undo undo = cache.save_for_append(total);
  try {
    for (std::int64_t begin = 0; begin < total; begin += chunk) {
      const std::int64_t n = std::min<std::int64_t>(chunk, total - begin);
      run_chunk(cache, tokens.subspan(begin, n), options, begin, begin + n == total, out);
    }
  } catch (...) {
    cache.restore(undo);
    throw;
  }
  return out;
}

void Forward::run_chunk(KvCache& cache, std::span<const std::int32_t> tokens,
                        const ForwardOptions& options, std::int64_t out_row, bool last_chunk,
                        ForwardOutput& out) {
  const int n = static_cast<int>(tokens.size());
  const std::int64_t hidden = config_.hidden_size;
  const std::size_t n_taps = options.hidden_taps.size();
  auto store_tap = [&](int layer, const float* x) {
    for (std::size_t k = 0; k < n_taps; ++k) {
      if (options.hidden_taps[k] != layer) continue;
      for (int i = 0; i < n; ++i) {
        std::copy_n(x + i * hidden, hidden,
                    out.hidden.data() + ((out_row + i) * n_taps + k) * hidden);
      }
    }
  };

  std::vector<float> x(n * hidden), h(n * hidden), delta(n * hidden);
  embed(weights_.embed, tokens, x.data());
  cache.reserve_step(n);
  const int last_layer = config_.num_layers - 1;
  for (int l = 0; l < config_.num_layers; ++l) {
    check_cancel(options);
    rmsnorm(x.data(), params_[l].input_norm.data(), n, hidden, config_.rms_norm_eps, h.data());
    attention_block(l, cache, h.data(), n, delta.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
    rmsnorm(x.data(), params_[l].post_attention_norm.data(), n, hidden, config_.rms_norm_eps,
            h.data());
    mlp_block(l, h.data(), n, delta.data());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += delta[i];
    if (l != last_layer) store_tap(l, x.data());
  }
  check_cancel(options);
  rmsnorm(x.data(), final_norm_.data(), n, hidden, config_.rms_norm_eps, h.data());
  store_tap(last_layer, h.data());

  const std::int64_t vocab = config_.vocab_size;
  if (options.all_logits) {
    linear(pool_, weights_.lm_head, h.data(), n, out.logits.data() + out_row * vocab);
  } else if (last_chunk) {
    linear(pool_, weights_.lm_head, h.data() + (n - 1) * hidden, 1, out.logits.data());
  }
  cache.commit(n);
}

void Forward::attention_block(int layer, KvCache& cache, const float* h, int n, float* out) {
  const model::LayerWeights& w = weights_.layers[layer];
  const model::AttentionSpec& a = config_.attention(layer);
  const bool sliding = config_.layers[layer].attention == model::AttentionKind::kSliding;
  const Rope& rope = sliding ? sliding_rope_ : full_rope_;
  const std::int64_t q_size = std::int64_t{a.num_heads} * a.head_dim;
  const std::int64_t k_size = std::int64_t{a.num_kv_heads} * a.head_dim;
  const std::int64_t v_size = std::int64_t{a.num_kv_heads} * a.v_head_dim;
  std::vector<float> q(n * q_size), k(n * k_size), v(n * v_size);
  linear(pool_, w.q, h, n, q.data());
  linear(pool_, w.k, h, n, k.data());
  linear(pool_, w.v, h, n, v.data());
  const float value_scale = static_cast<float>(config_.attention_value_scale);
  const std::int64_t first_pos = cache.length();
  for (int i = 0; i < n; ++i) {
    const std::int64_t pos = first_pos + i;
    rope.apply(q.data() + i * q_size, a.num_heads, a.head_dim, pos);
    rope.apply(k.data() + i * k_size, a.num_kv_heads, a.head_dim, pos);
    std::copy_n(k.data() + i * k_size, k_size, cache.key(layer, pos));
    float* cached_v = cache.value(layer, pos);
    for (std::int64_t j = 0; j < v_size; ++j) cached_v[j] = v[i * v_size + j] * value_scale;
  }
  AttentionParams params;
  params.num_heads = a.num_heads;
  params.window = sliding ? config_.sliding_window : 0;
  params.sinks = params_[layer].sink.empty() ? nullptr : params_[layer].sink.data();
  std::vector<float> heads(n * std::int64_t{a.num_heads} * a.v_head_dim);
  attention(pool_, cache.view(layer), params, q.data(), n, first_pos, heads.data());
  linear(pool_, w.o, heads.data(), n, out);
}

void Forward::mlp_block(int layer, const float* h, int n, float* out) {
  const model::LayerWeights& w = weights_.layers[layer];
  if (config_.layers[layer].mlp == model::MlpKind::kDense) {
    gated_mlp(pool_, *w.dense, h, n, out);
    return;
  }
  const int n_experts = config_.n_routed_experts;
  std::vector<float> logits(std::int64_t{n} * n_experts);
  linear(pool_, *w.router, h, n, logits.data());
  RouterParams router;
  router.n_experts = n_experts;
  router.top_k = config_.num_experts_per_tok;
  router.n_group = config_.n_group;
  router.topk_group = config_.topk_group;
  router.norm_topk_prob = config_.norm_topk_prob;
  router.routed_scaling_factor = config_.routed_scaling_factor;
  const float* bias =
      params_[layer].router_bias.empty() ? nullptr : params_[layer].router_bias.data();
  std::vector<Route> routes(n);
  for (int i = 0; i < n; ++i) routes[i] = route(logits.data() + i * n_experts, bias, router);
  moe(pool_, w.experts, routes, h, n, config_.hidden_size, out);
}

}  // namespace mimo::cpu
