// Which part of a MiMo-V2 model each of N tensor/expert-parallel ranks owns (docs/parallel.md):
// query heads and the kv heads they read, MoE experts, dense-MLP intermediate columns and
// lm_head vocabulary rows. Shards are contiguous and in rank order, so concatenating the ranks'
// pieces in rank order gives back the whole.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.hpp"

namespace mimo::exec {

// How MoE layers split: whole experts per rank (expert parallelism), or every expert's
// intermediate units per rank (expert tensor parallelism: balanced at batch 1, docs/parallel.md).
enum class MoeSplit { kWholeExperts, kExpertColumns };

struct Range {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// One attention flavour (full or sliding) on one rank.
struct AttentionShard {
  Range heads;          // query heads, and their o_proj input columns (per v_head_dim)
  Range kv_heads;       // kv heads this rank stores and reads
  int kv_replicas = 1;  // ranks holding each kv head: 1 when split, N / kv_heads when replicated
};

struct RankShard {
  int rank = 0;
  AttentionShard full, sliding;
  Range experts;         // routed experts computed here (all of them with kExpertColumns)
  Range expert_columns;  // intermediate units of each expert computed here
  Range dense_columns;   // dense MLP intermediate units: gate/up rows, down input columns
  Range vocab;           // lm_head rows (logit columns)

  const AttentionShard& attention(model::AttentionKind kind) const {
    return kind == model::AttentionKind::kFull ? full : sliding;
  }
};

struct ShardingPlan {
  int num_ranks = 1;
  MoeSplit moe_split = MoeSplit::kWholeExperts;
  std::vector<RankShard> ranks;  // ranks[r].rank == r

  int expert_owner(int expert) const;  // the rank computing `expert`
};

// Splits `config` over num_ranks ranks. Heads, dense columns and experts (or, with
// kExpertColumns, moe_intermediate_size) must divide evenly;
// kv heads either divide evenly or, when fewer than the ranks, divide the ranks (each kv head
// then lives on N / kv_heads ranks); the vocabulary is split as evenly as possible (the first
// vocab % N ranks take one row more). Only the attention flavours and MLP kinds the layers use
// are checked. Throws mimo::Error(kInvalidArgument) naming the field, its value and N.
ShardingPlan make_sharding_plan(const model::ModelConfig& config, int num_ranks,
                                MoeSplit moe_split = MoeSplit::kWholeExperts);

}  // namespace mimo::exec
