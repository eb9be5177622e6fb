// What the CPU interpreter reads for one rank: the weights of its shard (the whole model for a
// single rank), the small vector parameters converted to float once, RoPE tables and router
// settings. Built from the checked model weights, or from a tensor-parallel rank's slices.
#pragma once

#include <span>
#include <vector>

#include "cpu/rope.hpp"
#include "cpu/router.hpp"
#include "exec/rank_weights.hpp"
#include "exec/sharding.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::exec {

struct CpuLayer {
  const model::LinearWeight *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr;
  std::vector<float> input_norm, post_attention_norm, sink, router_bias;
  const model::LinearWeight* router = nullptr;
  const model::ExpertWeights* dense = nullptr;
  // The experts this rank computes; a route's expert e maps to experts[e - first_expert] and
  // routes outside [first_expert, first_expert + experts.size()) are another rank's.
  std::span<const model::ExpertWeights> experts;
  int first_expert = 0;
};

struct CpuModel {
  model::ModelConfig config;  // this rank's: local head / kv-head counts
  const model::LinearWeight* embed = nullptr;
  const model::LinearWeight* lm_head = nullptr;  // this rank's vocab rows
  std::vector<float> final_norm;
  std::vector<CpuLayer> layers;
  cpu::Rope full_rope, sliding_rope;
  cpu::RouterParams router;
};

// The whole model on one rank. `weights` must be checked (check_weights) and outlive the result.
CpuModel bind_cpu_model(const model::ModelConfig& config, const model::ModelWeights& weights);

// Rank `rank.shard.rank` of a tensor-parallel split; `rank` and `weights` must outlive it.
CpuModel bind_cpu_rank(const model::ModelConfig& config, const model::ModelWeights& weights,
                       const RankWeights& rank, MoeSplit moe_split);

}  // namespace mimo::exec
