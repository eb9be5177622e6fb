// A CPU executor that computes every layer as N tensor/expert-parallel ranks would
// (docs/parallel.md): each rank runs only its shard - its query heads over its own KV cache of
// its kv heads, its experts, its dense-MLP columns, its vocab rows - with the lib/cpu kernels,
// and the collectives (all-reduce after o_proj and after the MLP, all-gather of the logits) are
// emulated in process in rank order. It is the CPU definition of what the NCCL executor must
// compute, and proves the sharding plan is complete: its logits equal CpuExecutor's to rounding.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "cpu/rope.hpp"
#include "cpu/thread_pool.hpp"
#include "exec/executor.hpp"
#include "exec/rank_weights.hpp"
#include "exec/sharding.hpp"

namespace mimo::exec {

class VirtualRanksExecutor final : public Executor {
 public:
  // config and weights must outlive the executor. Throws mimo::Error(kInvalidArgument) when
  // the weights do not match the config or the config cannot be split over num_ranks.
  VirtualRanksExecutor(const model::ModelConfig& config, const model::ModelWeights& weights,
                       int num_ranks, int num_threads,
                       MoeSplit moe_split = MoeSplit::kWholeExperts);
  ~VirtualRanksExecutor() override;

  std::unique_ptr<ExecutorState> new_state(std::int64_t max_context,
                                           int max_step_tokens) const override;
  StepOutput run(ExecutorState& state, std::span<const std::int32_t> tokens,
                 const StepOptions& options) const override;
  std::string device_name() const override;

  const ShardingPlan& plan() const { return plan_; }

 private:
  struct Chunk;
  void run_chunk(Chunk& chunk) const;
  void attention_partial(int rank, int layer, cpu::KvCache& cache, const float* h, int n,
                         std::vector<float>& out) const;
  void mlp_partials(int layer, const float* h, int n, std::vector<std::vector<float>>& out) const;

  const model::ModelConfig& config_;
  const model::ModelWeights& weights_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  ShardingPlan plan_;
  std::vector<RankWeights> ranks_;
  // Replicated small parameters, as floats: per layer input / post-attention norms and router
  // bias (empty when absent), and the final norm.
  std::vector<std::vector<float>> input_norms_, post_norms_, router_biases_;
  std::vector<float> final_norm_;
  cpu::Rope full_rope_, sliding_rope_;
  mutable std::mutex mutex_;  // steps share the pool and take turns
};

}  // namespace mimo::exec
