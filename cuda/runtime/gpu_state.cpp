// GpuState: allocation of the device KV caches and step scratch, cpu::KvCache's rewind rules.
#include "cuda/runtime/gpu_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <limits>

#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/ops.hpp"
#include "exec/step_envelope.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

DeviceBuffer floats(std::int64_t count) {
  return DeviceBuffer(static_cast<std::size_t>(count) * sizeof(float));
}

}  // namespace

PinnedBuffer::PinnedBuffer(std::size_t bytes) : bytes_(bytes) {
  check(cudaMallocHost(&data_, bytes), fmt::format("cudaMallocHost of {} bytes", bytes));
}

PinnedBuffer::~PinnedBuffer() {
  if (data_ != nullptr) cudaFreeHost(data_);
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

namespace {
std::uint64_t next_buffers_id() {
  static std::atomic<std::uint64_t> next{1};
  return next++;
}
}  // namespace

GpuState::GpuState(const model::ModelConfig& config, const exec::StateLimits& limits)
    : config_(config), limits_(limits), buffers_id_(next_buffers_id()) {
  exec::validate_limits(limits, "GPU state");
  const std::int64_t max_context = limits.max_context;
  const int max_chunk = limits.max_chunk_tokens(), max_step = limits.max_step_tokens;
  if (max_context > std::numeric_limits<int>::max() / 2) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("GPU state: max_context is {}, expected below 2^30", max_context));
  }
  attention_tokens_ = std::min(max_chunk, std::max(max_step, kAttentionLaunchTokens));
  window_ = config.sliding_window;
  const model::AttentionSpec& full = config.full;
  const model::AttentionSpec& sliding = config.sliding;
  int full_layers = 0;
  for (const model::LayerSpec& l : config.layers) {
    if (l.attention == model::AttentionKind::kSliding) {
      ++ring_layers_;
    } else {
      ++full_layers;
    }
  }
  if (ring_layers_ > 0) {
    if (window_ < 1) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("GPU KV cache: sliding layers with sliding_window {}", window_));
    }
    ring_capacity_ = std::min<std::int64_t>(max_context, window_ + max_chunk - 1);
  }
  positions_ = model::KvPositions(window_, ring_capacity_, max_chunk);
  const std::int64_t full_k = std::int64_t{full.num_kv_heads} * full.head_dim;
  const std::int64_t full_v = std::int64_t{full.num_kv_heads} * full.v_head_dim;
  ring_k_width_ = sliding.num_kv_heads * sliding.head_dim;
  ring_v_width_ = sliding.num_kv_heads * sliding.v_head_dim;
  full_k_ = floats(full_layers * max_context * full_k);
  full_v_ = floats(full_layers * max_context * full_v);
  ring_k_ = floats(ring_layers_ * ring_capacity_ * ring_k_width_);
  ring_v_ = floats(ring_layers_ * ring_capacity_ * ring_v_width_);
  undo_k_ = floats(ring_layers_ * ring_capacity_ * ring_k_width_);
  undo_v_ = floats(ring_layers_ * ring_capacity_ * ring_v_width_);
  int f = 0, r = 0;
  for (const model::LayerSpec& l : config.layers) {
    KvCacheView view;
    if (l.attention == model::AttentionKind::kSliding) {
      view.k = ring_k() + r * ring_capacity_ * ring_k_width_;
      view.v = ring_v() + r * ring_capacity_ * ring_v_width_;
      view.capacity = static_cast<int>(ring_capacity_);
      ++r;
    } else {
      view.k = full_k_.as<float>() + f * max_context * full_k;
      view.v = full_v_.as<float>() + f * max_context * full_v;
      view.capacity = static_cast<int>(max_context);
      ++f;
    }
    caches_.push_back(view);
  }

  const std::int64_t s = max_chunk, hidden = config.hidden_size;
  const auto widest = [&](auto field) {
    return std::max<std::int64_t>(std::int64_t{full.num_heads} * (full.*field),
                                  std::int64_t{sliding.num_heads} * (sliding.*field));
  };
  const std::int64_t kv_width = std::max<std::int64_t>(full_k, ring_k_width_);
  const std::int64_t v_width = std::max<std::int64_t>(full_v, ring_v_width_);
  int moe_layers = 0;
  for (const model::LayerSpec& l : config.layers) moe_layers += l.mlp == model::MlpKind::kMoe;
  const std::int64_t slots = s * std::max(1, config.num_experts_per_tok);
  const std::int64_t mlp_width =
      std::max<std::int64_t>(s * config.intermediate_size, slots * config.moe_intermediate_size);
  scratch.x = floats(s * hidden);
  scratch.h = floats(s * hidden);
  scratch.delta = floats(s * hidden);
  scratch.q = floats(s * widest(&model::AttentionSpec::head_dim));
  scratch.k = floats(s * kv_width);
  scratch.v = floats(s * v_width);
  scratch.heads = floats(s * widest(&model::AttentionSpec::v_head_dim));
  scratch.router_logits = floats(s * std::max(1, config.n_routed_experts));
  scratch.experts = DeviceBuffer(std::max(1, moe_layers) * slots * sizeof(int));
  scratch.expert_weights = floats(std::max(1, moe_layers) * slots);
  scratch.gate = floats(mlp_width);
  scratch.up = floats(mlp_width);
  scratch.act = floats(mlp_width);
  scratch.logits = floats(std::int64_t{max_step} * config.vocab_size);
  scratch.expert_groups = DeviceBuffer(expert_group_table_ints(slots) * sizeof(int));
  scratch.expert_partial = floats(slots * hidden);
  int max_segments = 1;
  for (int l = 0; l < config.num_layers; ++l)
    max_segments = std::max(max_segments, attention_key_segments(l));
  const int max_heads = std::max(full.num_heads, sliding.num_heads);
  const int max_v = std::max(full.v_head_dim, sliding.v_head_dim);
  scratch.attention_partial = floats(static_cast<std::int64_t>(
      attention_partial_floats(attention_tokens_, max_heads, max_v, max_segments)));
  // Split rows: the normed hidden rows, the attention heads (the o projection's input), the
  // experts' activations, the dense MLP's activations (the prefill GEMM's down projection).
  const bool dense = moe_layers < config.num_layers;
  scratch.split_values =
      std::max({s * hidden, s * widest(&model::AttentionSpec::v_head_dim),
                slots * config.moe_intermediate_size, dense ? s * config.intermediate_size : 0});
  scratch.split_rows = std::max(s, slots);
  scratch.split_hi = DeviceBuffer(scratch.split_values * sizeof(std::uint16_t));
  scratch.split_lo = DeviceBuffer(scratch.split_values * sizeof(std::uint16_t));
  scratch.split_inv = floats(scratch.split_rows);
  const std::size_t counters = attention_arrival_counters(attention_tokens_, max_heads);
  scratch.arrivals = DeviceBuffer(counters * sizeof(unsigned));
  check(cudaMemset(scratch.arrivals.get(), 0, counters * sizeof(unsigned)),
        "zeroing the attention's arrival counters");
  scratch.tokens = DeviceBuffer(s * sizeof(int));
  scratch.positions = DeviceBuffer(s * sizeof(int));
}

std::pair<int*, float*> GpuState::routes(int moe_index) {
  const std::size_t first =
      std::size_t(moe_index) * limits_.max_chunk_tokens() * config_.num_experts_per_tok;
  return {scratch.experts.as<int>() + first, scratch.expert_weights.as<float>() + first};
}

std::vector<std::vector<int>> GpuState::chosen_experts(int n_tokens) const {
  const int top_k = config_.num_experts_per_tok;
  const std::size_t slots = std::size_t(limits_.max_chunk_tokens()) * top_k;
  std::vector<std::vector<int>> out;
  for (const model::LayerSpec& l : config_.layers) {
    if (l.mlp != model::MlpKind::kMoe) continue;
    std::vector<int> ids(std::size_t(n_tokens) * top_k);
    copy_to_host(ids.data(), scratch.experts.as<int>() + out.size() * slots,
                 ids.size() * sizeof(int));
    out.push_back(std::move(ids));
  }
  return out;
}

int GpuState::attention_key_segments(int layer) const {
  // About 32 keys a segment over the most keys a query can see: enough blocks to fill the GPU at
  // short contexts, few partials to merge at long ones. Since the segment kernel merges the
  // partials itself, 32 beats 16 for multi-token steps and ties for decode (docs/performance.md).
  // A sliding layer's ring grows with the prefill chunk, but a decode or verify query still sees
  // at most window + max_step_tokens - 1 keys: sizing segments by the ring cut them to a few keys
  // each and made verify-8 5% slower (docs/performance.md, tenth session).
  const std::int64_t capacity = caches_[layer].capacity;
  const bool sliding = config_.layers[layer].attention == model::AttentionKind::kSliding;
  const std::int64_t keys =
      sliding ? std::min<std::int64_t>(capacity, window_ + limits_.max_step_tokens - 1) : capacity;
  return static_cast<int>(std::clamp<std::int64_t>((keys + 31) / 32, 1, kMaxAttentionKeySegments));
}

GpuState::~GpuState() {
  drop_step_graphs();
  for (cudaStream_t st : lanes_.streams) {
    cudaStreamSynchronize(st);
    cudaStreamDestroy(st);
  }
  for (cudaEvent_t e : lanes_.joins) cudaEventDestroy(e);
  if (lanes_.fork != nullptr) cudaEventDestroy(lanes_.fork);
  if (taps_ready_ != nullptr) cudaEventDestroy(taps_ready_);
  if (taps_released_ != nullptr) {
    cudaEventSynchronize(taps_released_);  // a reader may still copy from scratch.taps
    cudaEventDestroy(taps_released_);
  }
}

GpuState::SampleLanes& GpuState::sample_lanes(int rows) {
  if (lanes_.fork == nullptr) {
    check(cudaEventCreateWithFlags(&lanes_.fork, cudaEventDisableTiming), "cudaEventCreate");
  }
  while (static_cast<int>(lanes_.streams.size()) < rows) {
    cudaStream_t st = nullptr;
    check(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
    cudaEvent_t join = nullptr;
    const cudaError_t err = cudaEventCreateWithFlags(&join, cudaEventDisableTiming);
    if (err != cudaSuccess) cudaStreamDestroy(st);
    check(err, "cudaEventCreate");
    lanes_.streams.push_back(st);
    lanes_.joins.push_back(join);
  }
  return lanes_;
}

exec::DeviceTaps GpuState::hand_out_taps(std::int64_t rows, cudaStream_t stream) {
  if (taps_ready_ == nullptr) {  // both or neither: a reader must always get a released event
    cudaEvent_t ready = nullptr, released = nullptr;
    check(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    const cudaError_t err = cudaEventCreateWithFlags(&released, cudaEventDisableTiming);
    if (err != cudaSuccess) cudaEventDestroy(ready);
    check(err, "cudaEventCreate");
    taps_ready_ = ready;
    taps_released_ = released;
  }
  check(cudaEventRecord(taps_ready_, stream), "device taps ready");
  return exec::DeviceTaps{scratch.taps.as<float>(), rows, taps_ready_, taps_released_};
}

void GpuState::wait_taps_released(cudaStream_t stream) const {
  if (taps_released_ != nullptr) {
    check(cudaStreamWaitEvent(stream, taps_released_, 0), "wait for the device taps' reader");
  }
}

void GpuState::sync_taps_released() const {
  if (taps_released_ != nullptr) {
    check(cudaEventSynchronize(taps_released_), "wait for the device taps' reader");
  }
}

void GpuState::drop_step_graphs() {
  for (StepGraph& g : step_graphs) cudaGraphExecDestroy(g.exec);
  step_graphs.clear();
  buffers_id_ = next_buffers_id();
}

std::unique_ptr<exec::ExecutorState> GpuState::clone() const {
  auto copy = std::make_unique<GpuState>(config_, limits_);
  const auto copy_buffer = [](const DeviceBuffer& from, const DeviceBuffer& to) {
    if (from.bytes() == 0) return;
    check(cudaMemcpy(to.get(), from.get(), from.bytes(), cudaMemcpyDeviceToDevice),
          "copy of a KV cache");
  };
  copy_buffer(full_k_, copy->full_k_);
  copy_buffer(full_v_, copy->full_v_);
  copy_buffer(ring_k_, copy->ring_k_);
  copy_buffer(ring_v_, copy->ring_v_);
  copy->positions_ = positions_;
  return copy;
}

SplitActivations GpuState::Scratch::split(int cols) const {
  return SplitActivations{static_cast<std::uint16_t*>(split_hi.get()),
                          static_cast<std::uint16_t*>(split_lo.get()),
                          static_cast<float*>(split_inv.get()), cols};
}

}  // namespace mimo::cuda
