// The CPU reference executor: cpu::Forward over cpu::KvCache behind the Executor interface.
#pragma once

#include <memory>
#include <mutex>

#include "cpu/forward.hpp"
#include "cpu/thread_pool.hpp"
#include "exec/executor.hpp"

namespace mimo::exec {

class CpuExecutor final : public Executor {
 public:
  // config and weights must outlive the executor. num_threads <= 0: every hardware thread.
  CpuExecutor(const model::ModelConfig& config, const model::ModelWeights& weights,
              int num_threads);
  std::unique_ptr<ExecutorState> new_state(std::int64_t max_context,
                                           int max_step_tokens) const override;
  StepOutput run(ExecutorState& state, std::span<const std::int32_t> tokens,
                 const StepOptions& options) const override;
  std::string device_name() const override;

 private:
  const model::ModelConfig& config_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  std::unique_ptr<cpu::Forward> forward_;
  // Sessions share the worker pool, so their steps take turns.
  mutable std::mutex mutex_;
};

}  // namespace mimo::exec
