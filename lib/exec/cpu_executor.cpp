// CpuExecutor: adapts cpu::Forward / cpu::KvCache to the Executor seam.
#include "exec/cpu_executor.hpp"

#include <fmt/format.h>

#include <thread>

#include "mimo/error.hpp"

namespace mimo::exec {

namespace {

class CpuState final : public ExecutorState {
 public:
  explicit CpuState(cpu::KvCache cache) : cache(std::move(cache)) {}
  std::int64_t length() const override { return cache.length(); }
  bool can_truncate(std::int64_t n) const override { return cache.can_truncate(n); }
  void truncate(std::int64_t n) override { cache.truncate(n); }
  std::unique_ptr<ExecutorState> clone() const override {
    return std::make_unique<CpuState>(cache);
  }
  cpu::KvCache cache;
};

}  // namespace

CpuExecutor::CpuExecutor(const model::ModelConfig& config, const model::ModelWeights& weights,
                         int num_threads)
    : config_(config),
      pool_(std::make_unique<cpu::ThreadPool>(num_threads)),
      forward_(std::make_unique<cpu::Forward>(config, weights, *pool_)) {}

std::unique_ptr<ExecutorState> CpuExecutor::new_state(std::int64_t max_context,
                                                      int max_step_tokens) const {
  return std::make_unique<CpuState>(cpu::KvCache(config_, max_context, max_step_tokens));
}

StepOutput CpuExecutor::run(ExecutorState& state, std::span<const std::int32_t> tokens,
                            const StepOptions& options) const {
  auto* cpu_state = dynamic_cast<CpuState*>(&state);
  if (cpu_state == nullptr) {
    throw Error(ErrorCode::kInternal, "CpuExecutor::run: state belongs to another executor");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  StepOutput out;
  static_cast<cpu::ForwardOutput&>(out) = forward_->run(cpu_state->cache, tokens, options);
  return out;
}

std::string CpuExecutor::device_name() const {
  return fmt::format("cpu ({} threads)", pool_->size());
}

}  // namespace mimo::exec
