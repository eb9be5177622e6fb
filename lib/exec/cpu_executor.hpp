// The CPU reference executor: step programs run by the CPU interpreter (CpuRunner) over a
// cpu::KvCache, inside the shared executor envelope (exec/step_envelope.hpp).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "cpu/thread_pool.hpp"
#include "exec/cpu_model.hpp"
#include "exec/cpu_runner.hpp"
#include "exec/executor.hpp"
#include "program/program_cache.hpp"

namespace mimo::exec {

class CpuExecutor final : public Executor {
 public:
  // config and weights must outlive the executor; the weights are checked against the config
  // (check_weights). num_threads <= 0: every hardware thread. check_activations: every op's
  // output is checked for NaN / infinity (ModelOptions::check_activations).
  CpuExecutor(const model::ModelConfig& config, const model::ModelWeights& weights, int num_threads,
              bool check_activations = false);
  std::unique_ptr<ExecutorState> new_state(const StateLimits& limits) const override;
  StepOutput run(ExecutorState& state, std::span<const std::int32_t> tokens,
                 const StepOptions& options) const override;
  std::string device_name() const override;

  // Test hook: every chunk runs the tasks `tasks_of(program, context)` returns (its ops or
  // tiles in an order of their dependency graph) instead of program order; null restores
  // program order.
  using TaskOrder = std::vector<program::Task> (*)(const program::StepProgram&, void* context);
  void set_task_order_for_testing(TaskOrder tasks_of, void* context);
  // The program a chunk of this shape runs (planned on first use).
  const program::StepProgram& program_for(const program::StepShape& shape) const;

 private:
  const model::ModelConfig& config_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  CpuModel model_;
  CpuRunner runner_;
  mutable program::ProgramCache programs_;
  mutable CpuBuffers buffers_;
  TaskOrder tasks_of_ = nullptr;
  void* order_context_ = nullptr;
  // Sessions share the worker pool and the buffers, so their steps take turns.
  mutable std::mutex mutex_;
};

}  // namespace mimo::exec
