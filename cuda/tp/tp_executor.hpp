// The single-process multi-GPU executor (docs/parallel.md): N ranks, one per CUDA device, each
// running the GpuExecutor's kernel-per-op pipeline over its shard (exec::make_sharding_plan with
// expert tensor parallelism: its query heads over its own KV cache of its kv heads, its slice of
// every expert, its dense-MLP units, its lm_head rows) with an NCCL all-reduce (sum, float32)
// of the partial outputs after o_proj and after the MLP. Logits: each rank's vocabulary columns
// are copied straight into their columns of the host rows (the host is the gather point, so no
// all-gather is issued). Steps are issued by one kept host thread per device (exec::RankWorkers);
// every step of up to max_step_tokens (decode, verify blocks, short prompts) is captured per
// session, rank and step shape into a CUDA graph (NCCL calls included) and replayed.
// NVLink multicast stays off (cuda/comm sets NCCL_NVLS_ENABLE=0). No CUDA types here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuda/stream/draft_target.hpp"
#include "exec/executor.hpp"
#include "exec/sharding.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::cuda {

struct DeviceModel;

namespace tp {

struct TpStepStats {
  double host_us = 0;  // issuing the step on every rank, before waiting for it
  bool graph = false;
  int tokens = 0;
  // With set_comm_timing(true) on direct launches: per rank, milliseconds between events around
  // its all-reduces in the last step (includes waiting for the slower rank), and their count.
  std::vector<double> comm_ms;
  int all_reduces = 0;
};

class TensorParallelExecutor final : public exec::Executor, public DraftTarget {
 public:
  // Checkpoint weights split over `devices` (one rank each, rank order). config and weights
  // must outlive the executor. Throws kInvalidArgument when the model cannot be split over
  // devices.size() ranks, kDevice when a device is missing or NCCL fails.
  TensorParallelExecutor(const model::ModelConfig& config, const model::ModelWeights& weights,
                         const std::vector<int>& devices);
  // Random weights of config's geometry, generated on each device (benchmarks).
  TensorParallelExecutor(const model::ModelConfig& config, const std::vector<int>& devices,
                         std::uint64_t seed);
  ~TensorParallelExecutor() override;

  std::unique_ptr<exec::ExecutorState> new_state(const exec::StateLimits& limits) const override;
  exec::StepOutput run(exec::ExecutorState& state, std::span<const std::int32_t> tokens,
                       const exec::StepOptions& options) const override;
  std::string device_name() const override;

  int num_ranks() const;
  const exec::ShardingPlan& plan() const;
  const DeviceModel& rank_model(int rank) const;
  const model::ModelConfig& rank_config(int rank) const;
  void set_use_graphs(bool on);
  void set_comm_timing(bool on);
  TpStepStats last_step() const;
  // Experts the router chose in the state's last chunk (rank 0; every rank routes the same).
  std::vector<std::vector<int>> last_experts(const exec::ExecutorState& state, int n_tokens) const;
  // Milliseconds for `count` back-to-back all-reduces of n_tokens x hidden floats on every
  // rank (median of `reps`, slowest rank): the collective cost of a step without compute.
  double time_all_reduces(int count, int n_tokens, int reps) const;
  // DraftTarget: the GPU drafter runs on rank 0's device, over rank 0's embedding (the whole
  // table) and the whole lm_head, uploaded there on first use from the checkpoint (one rank:
  // rank 0's own model). kUnsupported for random weights on several ranks.
  int draft_device() const override;
  const DeviceModel& draft_head() const override;

 private:
  struct RankGroup;
  std::unique_ptr<RankGroup> group_;
};

}  // namespace tp

// Checkpoint weights over `devices` (at least 2, distinct). config and weights must outlive it.
std::unique_ptr<exec::Executor> make_tensor_parallel_executor(const model::ModelConfig& config,
                                                              const model::ModelWeights& weights,
                                                              const std::vector<int>& devices);

}  // namespace mimo::cuda
