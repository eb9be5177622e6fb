// A CPU executor that runs the tensor-parallel rewrite of the step program
// (program::tensor_parallel) as N tensor/expert-parallel ranks would (docs/parallel.md): each
// rank runs the same ops on its shard - its query heads over its own KV cache of
// its kv heads, its experts, its dense-MLP columns, its vocab rows - with the lib/cpu kernels,
// and the collectives (all-reduce after o_proj and after the MLP, all-gather of the logits) are
// emulated in process in rank order. It is the CPU definition of what the NCCL executor must
// compute, and proves the sharding plan is complete: its logits equal CpuExecutor's to rounding.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "cpu/thread_pool.hpp"
#include "exec/cpu_model.hpp"
#include "exec/cpu_runner.hpp"
#include "exec/executor.hpp"
#include "exec/rank_weights.hpp"
#include "exec/sharding.hpp"
#include "program/program_cache.hpp"

namespace mimo::exec {

class VirtualRanksExecutor final : public Executor {
 public:
  // config and weights must outlive the executor. Throws mimo::Error(kInvalidArgument) when
  // the weights do not match the config or the config cannot be split over num_ranks.
  VirtualRanksExecutor(const model::ModelConfig& config, const model::ModelWeights& weights,
                       int num_ranks, int num_threads,
                       MoeSplit moe_split = MoeSplit::kWholeExperts);
  ~VirtualRanksExecutor() override;

  std::unique_ptr<ExecutorState> new_state(const StateLimits& limits) const override;
  StepOutput run(ExecutorState& state, std::span<const std::int32_t> tokens,
                 const StepOptions& options) const override;
  std::string device_name() const override;

  const ShardingPlan& plan() const { return plan_; }

 private:
  const model::ModelConfig& config_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  ShardingPlan plan_;
  std::vector<RankWeights> weights_;  // each rank's slices
  std::vector<CpuModel> models_;      // bound on weights_
  std::vector<CpuRunner> runners_;
  mutable program::ProgramCache programs_;
  mutable std::vector<CpuBuffers> buffers_;
  mutable std::mutex mutex_;  // steps share the pool and the buffers and take turns
};

}  // namespace mimo::exec
