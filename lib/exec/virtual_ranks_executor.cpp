// VirtualRanksExecutor: the tensor-parallel step program, every rank's ops run by the CPU
// interpreter over that rank's shard, collectives emulated in rank order:
//   embed, norms, router         replicated: every rank computes them on identical data
//   qkv, attention, o_proj       rank r: its heads over its KV cache; all_reduce(delta)
//   experts / dense MLP          rank r: its experts or columns; all_reduce(delta)
//   lm_head                      rank r: its vocab rows; all_gather(logits)
#include "exec/virtual_ranks_executor.hpp"

#include <fmt/format.h>

#include "exec/step_envelope.hpp"
#include "exec/virtual_collectives.hpp"
#include "exec/weight_checks.hpp"
#include "mimo/error.hpp"

namespace mimo::exec {
namespace {

class VirtualState final : public ExecutorState {
 public:
  std::int64_t length() const override { return caches.front().length(); }
  std::int64_t max_context() const override { return caches.front().max_context(); }
  int max_step_tokens() const override { return max_step; }
  int max_chunk_tokens() const override { return caches.front().max_chunk_tokens(); }
  bool can_truncate(std::int64_t n) const override { return caches.front().can_truncate(n); }
  void truncate(std::int64_t n) override {
    for (cpu::KvCache& c : caches) c.truncate(n);
  }
  std::unique_ptr<ExecutorState> clone() const override {
    return std::make_unique<VirtualState>(*this);
  }
  std::vector<cpu::KvCache> caches;  // one per rank, holding that rank's kv heads
  int max_step = 1;
};

// Sums every rank's delta in rank order and hands each rank the sum (the buffers move out and
// back rather than being copied).
void all_reduce_delta(std::vector<CpuBuffers>& ranks) {
  std::vector<std::vector<float>> partials;
  for (CpuBuffers& b : ranks) partials.push_back(std::move(b.delta));
  std::vector<float> sum(partials.front().size());
  all_reduce_sum(partials, sum.data(), static_cast<std::int64_t>(sum.size()));
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    ranks[r].delta = std::move(partials[r]);
    std::copy(sum.begin(), sum.end(), ranks[r].delta.begin());
  }
}

// Every rank's vocab columns of `rows` logit rows side by side into `out`, in rank order.
void all_gather_logits(std::vector<CpuBuffers>& ranks, std::int64_t rows, float* out) {
  std::vector<std::vector<float>> pieces;
  std::vector<std::int64_t> widths;
  for (CpuBuffers& b : ranks) {
    widths.push_back(static_cast<std::int64_t>(b.local_logits.size()) / rows);
    pieces.push_back(std::move(b.local_logits));
  }
  all_gather_columns(pieces, widths, rows, out);
  for (std::size_t r = 0; r < ranks.size(); ++r) ranks[r].local_logits = std::move(pieces[r]);
}

}  // namespace

VirtualRanksExecutor::VirtualRanksExecutor(const model::ModelConfig& config,
                                           const model::ModelWeights& weights, int num_ranks,
                                           int num_threads, MoeSplit moe_split)
    : config_(config),
      pool_(std::make_unique<cpu::ThreadPool>(num_threads)),
      plan_(make_sharding_plan(config, num_ranks, moe_split)),
      programs_(config, num_ranks) {
  check_weights(config, weights);
  for (const RankShard& shard : plan_.ranks) {
    weights_.push_back(make_rank_weights(config, weights, shard, moe_split));
  }
  for (const RankWeights& rank : weights_) {
    models_.push_back(bind_cpu_rank(config, weights, rank, moe_split));
  }
  for (const CpuModel& m : models_) runners_.emplace_back(m, *pool_);
  buffers_.resize(plan_.ranks.size());
}

VirtualRanksExecutor::~VirtualRanksExecutor() = default;

std::unique_ptr<ExecutorState> VirtualRanksExecutor::new_state(const StateLimits& limits) const {
  validate_limits(limits, "VirtualRanksExecutor state");
  auto state = std::make_unique<VirtualState>();
  state->max_step = limits.max_step_tokens;
  for (const RankWeights& rank : weights_) {
    state->caches.emplace_back(rank.config, limits.max_context, limits.max_chunk_tokens());
  }
  return state;
}

std::string VirtualRanksExecutor::device_name() const {
  return fmt::format("cpu, {} virtual ranks ({} threads)", plan_.num_ranks, pool_->size());
}

StepOutput VirtualRanksExecutor::run(ExecutorState& state, std::span<const std::int32_t> tokens,
                                     const StepOptions& options) const {
  auto* vstate = dynamic_cast<VirtualState*>(&state);
  if (vstate == nullptr) {
    throw Error(ErrorCode::kInternal,
                "VirtualRanksExecutor::run: state belongs to another executor");
  }
  validate_step(config_, state, tokens, options);
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  const std::int64_t vocab = config_.vocab_size, hidden = config_.hidden_size;
  const int n_taps = static_cast<int>(options.hidden_taps.size());
  const int n_ranks = plan_.num_ranks;
  std::lock_guard<std::mutex> lock(mutex_);
  StepOutput out;
  out.logits.resize((options.all_logits ? total : 1) * vocab);
  out.hidden.resize(total * n_taps * hidden);
  std::vector<cpu::KvCache::Undo> undo;
  for (const cpu::KvCache& c : vstate->caches) undo.push_back(c.save_for_append(total));
  const auto run_chunk = [&](std::int64_t begin, int n, bool last) {
    const program::StepProgram& program = programs_.get(chunk_shape(options, n, last));
    std::vector<ChunkIo> io(n_ranks);
    for (int r = 0; r < n_ranks; ++r) {
      io[r].tokens = tokens.subspan(begin, n);
      io[r].taps = out.hidden.data() + begin * n_taps * hidden;
      io[r].n_taps = n_taps;
      const std::int64_t rows = options.all_logits ? n : 1;
      buffers_[r].local_logits.resize(rows * weights_[r].lm_head.rows);
      io[r].logits = n_ranks == 1 ? out.logits.data() + (options.all_logits ? begin * vocab : 0)
                                  : buffers_[r].local_logits.data();
      runners_[r].prepare(buffers_[r], io[r], vstate->caches[r].length());
      vstate->caches[r].reserve_step(n);
    }
    for (const program::Op& op : program.ops) {
      if (program::starts_layer(op)) throw_if_cancelled(options);
      if (op.kind == program::OpKind::kAllReduce) {
        all_reduce_delta(buffers_);
      } else if (op.kind == program::OpKind::kAllGather) {
        all_gather_logits(buffers_, op.all_rows ? n : 1,
                          out.logits.data() + (options.all_logits ? begin * vocab : 0));
      } else {
        for (int r = 0; r < n_ranks; ++r) {
          runners_[r].run_op(op, vstate->caches[r], buffers_[r], io[r]);
        }
      }
    }
    for (cpu::KvCache& cache : vstate->caches) cache.commit(n);
  };
  run_chunks(total, chunk_tokens(options, state), run_chunk, [&] {
    for (std::size_t r = 0; r < undo.size(); ++r) vstate->caches[r].restore(undo[r]);
  });
  return out;
}

}  // namespace mimo::exec
