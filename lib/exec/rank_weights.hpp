// The weights one tensor/expert-parallel rank reads, as views of the full model's weights
// (exec/sharding.hpp says which part): q/k/v row slices of its heads, the o_proj columns of its
// heads, its dense-MLP columns, its vocab rows of lm_head. Experts stay whole: the rank indexes
// the model's expert list with its expert range. Also the rank's own ModelConfig (local head
// counts), from which its KV cache and attention geometry follow.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "exec/sharding.hpp"
#include "exec/weight_slices.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::exec {

struct RankLayerWeights {
  model::LinearWeight q, k, v;
  std::unique_ptr<ColumnWindow> o;            // o_proj input columns of the local heads
  std::vector<float> sink;                    // local heads' sink logits (empty: no sink)
  std::optional<model::ExpertWeights> dense;  // gate/up rows, down = dense_down's window
  std::unique_ptr<ColumnWindow> dense_down;
  // kExpertColumns: every expert's slice (gate/up rows, down = expert_downs[e]'s window).
  std::vector<model::ExpertWeights> expert_slices;
  std::vector<std::unique_ptr<ColumnWindow>> expert_downs;
};

struct RankWeights {
  RankShard shard;
  model::ModelConfig config;  // the full config with this rank's head / kv-head counts
  std::vector<RankLayerWeights> layers;
  model::LinearWeight lm_head;  // rows shard.vocab of the full lm_head
};

// config and weights must outlive the result; shapes are assumed checked (check_weights).
RankWeights make_rank_weights(const model::ModelConfig& config, const model::ModelWeights& weights,
                              const RankShard& shard, MoeSplit moe_split);

}  // namespace mimo::exec
