// TensorParallelExecutor: the tensor-parallel step program (program::tensor_parallel), each
// rank's ops issued by a StreamRunner over the rank's shard - the same kernels as GpuExecutor -
// with the partial outputs summed across ranks (NCCL) before each residual add:
//   h = rmsnorm(x += delta); q, k, v = linear_r(h); rope + store k, v; heads = attention_r
//   delta = all_reduce(o_r(heads))
//   h = rmsnorm(x += delta); delta = all_reduce(dense_r(h) or sum_k w_k expert_slice_r,k(h))
//   logits[:, vocab_r] = lm_head_r(rmsnorm(x += delta))
// The router runs on every rank on identical h (NCCL's ring hands every rank the same sums), so
// every rank picks the same experts without exchanging anything. How a step runs on the ranks is
// in rank_group.hpp; here the executor's interface around it.
#include "cuda/tp/tp_executor.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "cuda/tp/rank_group.hpp"

namespace mimo::cuda::tp {

TensorParallelExecutor::TensorParallelExecutor(const model::ModelConfig& config,
                                               const model::ModelWeights& weights,
                                               const std::vector<int>& devices)
    : group_(std::make_unique<RankGroup>(config, devices)) {
  group_->weights = &weights;
  group_->workers.run([&](int r) {
    Rank& rank = *group_->ranks[r];
    check(cudaSetDevice(rank.device), "cudaSetDevice");
    rank.model = upload_rank_model(config, weights, group_->plan.ranks[r]);
  });
  group_->make_streams();
}

TensorParallelExecutor::TensorParallelExecutor(const model::ModelConfig& config,
                                               const std::vector<int>& devices, std::uint64_t seed)
    : group_(std::make_unique<RankGroup>(config, devices)) {
  group_->workers.run([&](int r) {
    Rank& rank = *group_->ranks[r];
    check(cudaSetDevice(rank.device), "cudaSetDevice");
    rank.model = synthetic_rank_model(config, group_->plan.ranks[r], seed);
  });
  group_->make_streams();
}

TensorParallelExecutor::~TensorParallelExecutor() {
  const DeviceGuard guard;
  group_->comms.clear();
  for (auto& rank : group_->ranks) {
    cudaSetDevice(rank->device);
    for (auto& [a, b] : rank->comm_events) {
      cudaEventDestroy(a);
      cudaEventDestroy(b);
    }
    if (rank->stream != nullptr) cudaStreamDestroy(rank->stream);
    if (rank->index == 0) group_->draft_head.reset();
    rank->model.reset();
  }
}

std::unique_ptr<exec::ExecutorState> TensorParallelExecutor::new_state(
    const exec::StateLimits& limits) const {
  const DeviceGuard guard;
  auto state = std::make_unique<TpState>();
  for (auto& rank : group_->ranks) {
    check(cudaSetDevice(rank->device), "cudaSetDevice");
    state->devices.push_back(rank->device);
    state->ranks.push_back(std::make_unique<GpuState>(rank->config, limits));
  }
  return state;
}

exec::StepOutput TensorParallelExecutor::run(exec::ExecutorState& state,
                                             std::span<const std::int32_t> tokens,
                                             const exec::StepOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  auto* s = dynamic_cast<TpState*>(&state);
  if (s == nullptr) {
    throw Error(ErrorCode::kInternal,
                "TensorParallelExecutor::run: state belongs to another executor");
  }
  exec::validate_step(group_->config, *s, tokens, options);
  std::lock_guard<std::mutex> lock(group_->mutex);
  const DeviceGuard guard;
  exec::throw_if_cancelled(options);
  group_->last = TpStepStats{};
  group_->last.tokens = static_cast<int>(tokens.size());
  // The last step's device taps may still be read on the drafter's stream: this step rewrites
  // them (rank 0's stream waits, the host does not).
  {
    const Rank& first = *group_->ranks.front();
    check(cudaSetDevice(first.device), "cudaSetDevice");
    s->ranks.front()->wait_taps_released(first.stream);
  }
  // Graphs for steps of up to max_step_tokens (decode, verify blocks, short prompts), as in
  // GpuExecutor; longer prompts launch their chunks directly.
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (group_->use_graphs && n <= s->max_step_tokens() &&
      (options.max_chunk <= 0 || n <= options.max_chunk)) {
    group_->last.graph = true;
    return group_->run_step_graph(*s, tokens, options, start);
  }
  return group_->run_direct(*s, tokens, options, start);
}

std::string TensorParallelExecutor::device_name() const {
  std::string devices;
  for (auto& rank : group_->ranks) {
    devices += fmt::format("{}{}", devices.empty() ? "" : ",", rank->device);
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, group_->ranks.front()->device);
  return fmt::format("cuda:{} tensor parallel, {} ranks ({})", devices, num_ranks(), prop.name);
}

int TensorParallelExecutor::num_ranks() const {
  return static_cast<int>(group_->ranks.size());
}
const exec::ShardingPlan& TensorParallelExecutor::plan() const {
  return group_->plan;
}
const DeviceModel& TensorParallelExecutor::rank_model(int rank) const {
  return *group_->ranks.at(rank)->model;
}
const model::ModelConfig& TensorParallelExecutor::rank_config(int rank) const {
  return group_->ranks.at(rank)->config;
}
void TensorParallelExecutor::set_use_graphs(bool on) {
  group_->use_graphs = on;
}
void TensorParallelExecutor::set_comm_timing(bool on) {
  group_->comm_timing = on;
}
TpStepStats TensorParallelExecutor::last_step() const {
  return group_->last;
}

std::vector<std::vector<int>> TensorParallelExecutor::last_experts(const exec::ExecutorState& state,
                                                                   int n_tokens) const {
  const GpuState& s = *dynamic_cast<const TpState&>(state).ranks.front();
  const DeviceGuard guard;
  check(cudaSetDevice(group_->ranks.front()->device), "cudaSetDevice");
  return s.chosen_experts(n_tokens);
}

int TensorParallelExecutor::draft_device() const {
  return group_->ranks.front()->device;
}

const DeviceModel& TensorParallelExecutor::draft_head() const {
  const Rank& first = *group_->ranks.front();
  if (num_ranks() == 1) return *first.model;  // its lm_head holds every vocabulary row
  std::lock_guard<std::mutex> lock(group_->mutex);
  if (group_->draft_head != nullptr) return *group_->draft_head;
  if (group_->weights == nullptr) {
    throw Error(ErrorCode::kUnsupported,
                "tensor parallel: a drafter needs the whole lm_head, and random weights on "
                "several ranks have none");
  }
  const DeviceGuard on(first.device);
  auto head = std::make_unique<DeviceModel>();
  head->embed_format = first.model->embed_format;  // rank 0's whole table, not copied
  head->embed_bf16 = first.model->embed_bf16;
  head->embed_f32 = first.model->embed_f32;
  head->lm_head = upload_device_linear(group_->weights->lm_head, head->arena);
  synchronize();
  group_->draft_head = std::move(head);
  return *group_->draft_head;
}

double TensorParallelExecutor::time_all_reduces(int count, int n_tokens, int reps) const {
  std::lock_guard<std::mutex> lock(group_->mutex);
  const int n_ranks = num_ranks();
  const std::size_t floats = std::size_t(n_tokens) * group_->config.hidden_size;
  std::vector<std::vector<double>> ms(n_ranks);
  group_->workers.run([&](int r) {
    Rank& rank = *group_->ranks[r];
    check(cudaSetDevice(rank.device), "cudaSetDevice");
    DeviceBuffer buffer(floats * sizeof(float));
    check(cudaMemsetAsync(buffer.get(), 0, floats * sizeof(float), rank.stream), "memset");
    cudaEvent_t a, b;
    check(cudaEventCreate(&a), "cudaEventCreate");
    check(cudaEventCreate(&b), "cudaEventCreate");
    for (int i = 0; i < reps + 1; ++i) {
      check(cudaEventRecord(a, rank.stream), "cudaEventRecord");
      for (int k = 0; k < count; ++k) group_->all_reduce(rank, buffer.as<float>(), floats, true);
      check(cudaEventRecord(b, rank.stream), "cudaEventRecord");
      check(cudaEventSynchronize(b), "all-reduce timing");
      float t = 0;
      check(cudaEventElapsedTime(&t, a, b), "cudaEventElapsedTime");
      if (i > 0) ms[r].push_back(t);  // the first round warms NCCL's channels up
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  });
  double slowest = 0;
  for (auto& v : ms) {
    std::sort(v.begin(), v.end());
    slowest = std::max(slowest, v[v.size() / 2]);
  }
  return slowest;
}

}  // namespace mimo::cuda::tp

namespace mimo::cuda {

std::unique_ptr<exec::Executor> make_tensor_parallel_executor(const model::ModelConfig& config,
                                                              const model::ModelWeights& weights,
                                                              const std::vector<int>& devices) {
  if (devices.size() < 2) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("tensor parallel: {} devices given, at least 2 needed", devices.size()));
  }
  return std::make_unique<tp::TensorParallelExecutor>(config, weights, devices);
}

}  // namespace mimo::cuda
