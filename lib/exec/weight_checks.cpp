// check_weights: the shape rules every executor relies on (see weight_checks.hpp).
#include "exec/weight_checks.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cpu/weight_rows.hpp"
#include "mimo/error.hpp"

namespace mimo::exec {
namespace {

void check_shape(const model::LinearWeight& w, std::int64_t rows, std::int64_t cols) {
  cpu::validate_linear(w);
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

void check_router(const model::ModelConfig& config) {
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

}  // namespace

void check_weights(const model::ModelConfig& config, const model::ModelWeights& weights) {
  const std::int64_t hidden = config.hidden_size;
  if (static_cast<int>(weights.layers.size()) != config.num_layers ||
      static_cast<int>(config.layers.size()) != config.num_layers) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("forward: config has {} layers, weights bind {}", config.num_layers,
                            weights.layers.size()));
  }
  check_shape(weights.embed, config.vocab_size, hidden);
  check_shape(weights.lm_head, config.vocab_size, hidden);
  cpu::to_floats(weights.final_norm, hidden);
  if (std::any_of(config.layers.begin(), config.layers.end(),
                  [](auto& l) { return l.mlp == model::MlpKind::kMoe; })) {
    check_router(config);
  }
  for (int l = 0; l < config.num_layers; ++l) {
    const model::LayerWeights& w = weights.layers[l];
    const model::AttentionSpec& a = config.attention(l);
    cpu::to_floats(w.input_norm, hidden);
    cpu::to_floats(w.post_attention_norm, hidden);
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
      cpu::to_floats(*w.sink, a.num_heads);
    }
    if (config.layers[l].mlp == model::MlpKind::kDense) {
      if (!w.dense) {
        throw Error(ErrorCode::kInvalidArgument, fmt::format("layer {}: dense MLP not bound", l));
      }
      check_mlp(*w.dense, hidden, config.intermediate_size);
      continue;
    }
    if (!w.router || static_cast<int>(w.experts.size()) != config.n_routed_experts) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("layer {}: MoE needs a router and {} experts, {} bound", l,
                              config.n_routed_experts, w.experts.size()));
    }
    check_shape(*w.router, config.n_routed_experts, hidden);
    if (w.router_bias) cpu::to_floats(*w.router_bias, config.n_routed_experts);
    for (const model::ExpertWeights& e : w.experts) {
      check_mlp(e, hidden, config.moe_intermediate_size);
    }
  }
}

}  // namespace mimo::exec
