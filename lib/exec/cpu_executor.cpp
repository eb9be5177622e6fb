// CpuExecutor: the envelope (validate, chunk, undo) around the CPU interpreter.
#include "exec/cpu_executor.hpp"

#include <fmt/format.h>

#include "exec/step_envelope.hpp"
#include "exec/weight_checks.hpp"
#include "mimo/error.hpp"

namespace mimo::exec {
namespace {

class CpuState final : public ExecutorState {
 public:
  CpuState(cpu::KvCache cache, int max_step) : cache(std::move(cache)), max_step(max_step) {}
  std::int64_t length() const override { return cache.length(); }
  std::int64_t max_context() const override { return cache.max_context(); }
  int max_step_tokens() const override { return max_step; }
  int max_chunk_tokens() const override { return cache.max_chunk_tokens(); }
  bool can_truncate(std::int64_t n) const override { return cache.can_truncate(n); }
  void truncate(std::int64_t n) override { cache.truncate(n); }
  std::unique_ptr<ExecutorState> clone() const override {
    return std::make_unique<CpuState>(cache, max_step);
  }
  cpu::KvCache cache;
  int max_step;
};

const model::ModelWeights& checked(const model::ModelConfig& config,
                                   const model::ModelWeights& weights) {
  check_weights(config, weights);
  return weights;
}

}  // namespace

CpuExecutor::CpuExecutor(const model::ModelConfig& config, const model::ModelWeights& weights,
                         int num_threads, bool check_activations)
    : config_(config),
      pool_(std::make_unique<cpu::ThreadPool>(num_threads)),
      model_(bind_cpu_model(config, checked(config, weights))),
      runner_(model_, *pool_, check_activations),
      programs_(config) {}

std::unique_ptr<ExecutorState> CpuExecutor::new_state(const StateLimits& limits) const {
  validate_limits(limits, "CpuExecutor state");
  return std::make_unique<CpuState>(
      cpu::KvCache(config_, limits.max_context, limits.max_chunk_tokens()), limits.max_step_tokens);
}

StepOutput CpuExecutor::run(ExecutorState& state, std::span<const std::int32_t> tokens,
                            const StepOptions& options) const {
  auto* cpu_state = dynamic_cast<CpuState*>(&state);
  if (cpu_state == nullptr) {
    throw Error(ErrorCode::kInternal, "CpuExecutor::run: state belongs to another executor");
  }
  validate_step(config_, state, tokens, options);
  cpu::KvCache& cache = cpu_state->cache;
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  const std::int64_t vocab = config_.vocab_size, hidden = config_.hidden_size;
  const int n_taps = static_cast<int>(options.hidden_taps.size());
  std::lock_guard<std::mutex> lock(mutex_);
  StepOutput out;
  out.logits.resize((options.all_logits ? total : 1) * vocab);
  out.hidden.resize(total * n_taps * hidden);
  const cpu::KvCache::Undo undo = cache.save_for_append(total);
  run_chunks(
      total, chunk_tokens(options, state),
      [&](std::int64_t begin, int n, bool last) {
        const program::StepProgram& program = programs_.get(chunk_shape(options, n, last));
        ChunkIo io;
        io.tokens = tokens.subspan(begin, n);
        io.logits = out.logits.data() + (options.all_logits ? begin * vocab : 0);
        io.taps = out.hidden.data() + begin * n_taps * hidden;
        io.n_taps = n_taps;
        io.cancel = options.cancel;
        if (tasks_of_ != nullptr) {
          const std::vector<program::Task> tasks = tasks_of_(program, order_context_);
          runner_.run(program, cache, buffers_, io, &tasks);
        } else {
          runner_.run(program, cache, buffers_, io);
        }
      },
      [&] { cache.restore(undo); });
  return out;
}

void CpuExecutor::set_task_order_for_testing(TaskOrder tasks_of, void* context) {
  std::lock_guard<std::mutex> lock(mutex_);
  tasks_of_ = tasks_of;
  order_context_ = context;
}

const program::StepProgram& CpuExecutor::program_for(const program::StepShape& shape) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return programs_.get(shape);
}

std::string CpuExecutor::device_name() const {
  return fmt::format("cpu ({} threads)", pool_->size());
}

}  // namespace mimo::exec
