// bind_cpu_model / bind_cpu_rank: weights and float parameters for the CPU interpreter.
#include "exec/cpu_model.hpp"

#include "cpu/weight_rows.hpp"

namespace mimo::exec {
namespace {

CpuModel common(const model::ModelConfig& local, const model::ModelConfig& config,
                const model::ModelWeights& weights) {
  CpuModel m{local,
             &weights.embed,
             &weights.lm_head,
             cpu::to_floats(weights.final_norm, config.hidden_size),
             {},
             cpu::Rope(config.full.frequency_dim(), config.full.rope_theta),
             cpu::Rope(config.sliding.frequency_dim(), config.sliding.rope_theta),
             {}};
  m.router.n_experts = config.n_routed_experts;
  m.router.top_k = config.num_experts_per_tok;
  m.router.n_group = config.n_group;
  m.router.topk_group = config.topk_group;
  m.router.norm_topk_prob = config.norm_topk_prob;
  m.router.routed_scaling_factor = config.routed_scaling_factor;
  for (int l = 0; l < config.num_layers; ++l) {
    const model::LayerWeights& w = weights.layers[l];
    CpuLayer layer;
    layer.input_norm = cpu::to_floats(w.input_norm, config.hidden_size);
    layer.post_attention_norm = cpu::to_floats(w.post_attention_norm, config.hidden_size);
    if (w.router) layer.router = &*w.router;
    if (w.router_bias) layer.router_bias = cpu::to_floats(*w.router_bias, config.n_routed_experts);
    m.layers.push_back(std::move(layer));
  }
  return m;
}

}  // namespace

CpuModel bind_cpu_model(const model::ModelConfig& config, const model::ModelWeights& weights) {
  CpuModel m = common(config, config, weights);
  for (int l = 0; l < config.num_layers; ++l) {
    const model::LayerWeights& w = weights.layers[l];
    CpuLayer& layer = m.layers[l];
    layer.q = &w.q;
    layer.k = &w.k;
    layer.v = &w.v;
    layer.o = &w.o;
    if (w.sink) layer.sink = cpu::to_floats(*w.sink, config.attention(l).num_heads);
    if (w.dense) layer.dense = &*w.dense;
    layer.experts = w.experts;
  }
  return m;
}

CpuModel bind_cpu_rank(const model::ModelConfig& config, const model::ModelWeights& weights,
                       const RankWeights& rank, MoeSplit moe_split) {
  CpuModel m = common(rank.config, config, weights);
  m.lm_head = &rank.lm_head;
  for (int l = 0; l < config.num_layers; ++l) {
    const RankLayerWeights& w = rank.layers[l];
    CpuLayer& layer = m.layers[l];
    layer.q = &w.q;
    layer.k = &w.k;
    layer.v = &w.v;
    layer.o = &w.o->weight();
    layer.sink = w.sink;
    if (w.dense) layer.dense = &*w.dense;
    if (moe_split == MoeSplit::kExpertColumns) {
      layer.experts = w.expert_slices;
    } else {
      const Range& mine = rank.shard.experts;
      layer.experts = std::span<const model::ExpertWeights>(weights.layers[l].experts)
                          .subspan(mine.begin, mine.size());
      layer.first_expert = static_cast<int>(mine.begin);
    }
  }
  return m;
}

}  // namespace mimo::exec
