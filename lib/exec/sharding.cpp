// make_sharding_plan: even contiguous splits, validated against the config.
#include "exec/sharding.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mimo/error.hpp"

namespace mimo::exec {
namespace {

[[noreturn]] void cannot_split(const std::string& what, std::int64_t count, int n,
                               const std::string& rule) {
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("sharding over {} ranks: {} = {} {}", n, what, count, rule));
}

Range even_part(std::int64_t count, int n, int rank) {
  const std::int64_t per = count / n;
  return {per * rank, per * (rank + 1)};
}

void require_divisible(const std::string& what, std::int64_t count, int n) {
  if (count < n || count % n != 0) {
    cannot_split(what, count, n, "must be a positive multiple of the rank count");
  }
}

AttentionShard attention_shard(const model::AttentionSpec& spec, int n, int rank) {
  AttentionShard shard;
  shard.heads = even_part(spec.num_heads, n, rank);
  if (spec.num_kv_heads >= n) {
    shard.kv_heads = even_part(spec.num_kv_heads, n, rank);
  } else {
    // Fewer kv heads than ranks: ranks r*k .. r*k+k-1 (k = n / kv_heads) share kv head r.
    shard.kv_replicas = n / spec.num_kv_heads;
    const std::int64_t kv = rank / shard.kv_replicas;
    shard.kv_heads = {kv, kv + 1};
  }
  return shard;
}

void check_attention(const std::string& kind, const model::AttentionSpec& spec, int n) {
  require_divisible(kind + " num_attention_heads", spec.num_heads, n);
  if (spec.num_kv_heads < 1 || spec.num_heads % spec.num_kv_heads != 0) {
    cannot_split(kind + " num_key_value_heads", spec.num_kv_heads, n,
                 fmt::format("must divide the {} query heads", spec.num_heads));
  }
  if (spec.num_kv_heads >= n) {
    require_divisible(kind + " num_key_value_heads", spec.num_kv_heads, n);
  } else if (n % spec.num_kv_heads != 0) {
    cannot_split(kind + " num_key_value_heads", spec.num_kv_heads, n,
                 "is fewer than the ranks and must then divide the rank count (replication)");
  }
}

}  // namespace

int ShardingPlan::expert_owner(int expert) const {
  if (moe_split == MoeSplit::kExpertColumns) {
    throw Error(ErrorCode::kInvalidArgument,
                "sharding: experts are split by columns, every rank "
                "computes a part of each");
  }
  for (const RankShard& r : ranks) {
    if (expert >= r.experts.begin && expert < r.experts.end) return r.rank;
  }
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("sharding: expert {} is owned by no rank", expert));
}

ShardingPlan make_sharding_plan(const model::ModelConfig& config, int num_ranks,
                                MoeSplit moe_split) {
  if (num_ranks < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("sharding: {} ranks requested, at least 1 needed", num_ranks));
  }
  const auto uses = [&](auto pred) {
    return std::any_of(config.layers.begin(), config.layers.end(), pred);
  };
  const bool full = uses([](auto& l) { return l.attention == model::AttentionKind::kFull; });
  const bool sliding = uses([](auto& l) { return l.attention == model::AttentionKind::kSliding; });
  const bool dense = uses([](auto& l) { return l.mlp == model::MlpKind::kDense; });
  const bool moe = uses([](auto& l) { return l.mlp == model::MlpKind::kMoe; });
  if (full) check_attention("full-attention", config.full, num_ranks);
  if (sliding) check_attention("sliding-attention", config.sliding, num_ranks);
  if (dense) require_divisible("intermediate_size", config.intermediate_size, num_ranks);
  const bool columns = moe_split == MoeSplit::kExpertColumns;
  if (moe && !columns) require_divisible("n_routed_experts", config.n_routed_experts, num_ranks);
  if (moe && columns) {
    require_divisible("moe_intermediate_size", config.moe_intermediate_size, num_ranks);
  }
  if (config.vocab_size < num_ranks) {
    cannot_split("vocab_size", config.vocab_size, num_ranks, "must be at least the rank count");
  }

  ShardingPlan plan;
  plan.num_ranks = num_ranks;
  plan.moe_split = moe_split;
  const std::int64_t vocab_per = config.vocab_size / num_ranks;
  const std::int64_t vocab_extra = config.vocab_size % num_ranks;
  for (int r = 0; r < num_ranks; ++r) {
    RankShard shard;
    shard.rank = r;
    if (full) shard.full = attention_shard(config.full, num_ranks, r);
    if (sliding) shard.sliding = attention_shard(config.sliding, num_ranks, r);
    if (moe && !columns) {
      shard.experts = even_part(config.n_routed_experts, num_ranks, r);
      shard.expert_columns = {0, config.moe_intermediate_size};
    } else if (moe) {
      shard.experts = {0, config.n_routed_experts};
      shard.expert_columns = even_part(config.moe_intermediate_size, num_ranks, r);
    }
    if (dense) shard.dense_columns = even_part(config.intermediate_size, num_ranks, r);
    shard.vocab.begin = vocab_per * r + std::min<std::int64_t>(r, vocab_extra);
    shard.vocab.end = shard.vocab.begin + vocab_per + (r < vocab_extra ? 1 : 0);
    plan.ranks.push_back(shard);
  }
  return plan;
}

}  // namespace mimo::exec
