// A session's state on the GPU: the device KV caches of every layer, the scratch activations of
// one step, pinned host staging and the captured step graphs. Position bookkeeping follows
// cpu::KvCache exactly (length, ring floor, which rewinds are exact); see lib/cpu/kv_cache.hpp.
// Sized by exec::StateLimits: rings and activations for chunks of max_chunk_tokens() (a prompt's
// chunks), logits rows, samplers and the step graphs' host side for max_step_tokens (the most
// rows a step returns: a verify block).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_sampler.hpp"
#include "cuda/tiles/matrix_views.hpp"
#include "exec/executor.hpp"
#include "model/config.hpp"
#include "model/kv_positions.hpp"
#include "program/step_program.hpp"

namespace mimo::cuda {

// Page-locked host memory (async copies from it may be captured into graphs).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept { *this = std::move(other); }
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// The most tokens the segmented attention takes in a step (at least max_step_tokens): partials
// of 32 tokens are ~34 MB at the benchmark geometry. Longer chunks use the prefill attention
// kernel, which needs no partials.
inline constexpr int kAttentionLaunchTokens = 32;

class GpuState final : public exec::ExecutorState {
 public:
  GpuState(const model::ModelConfig& config, const exec::StateLimits& limits);
  ~GpuState() override;

  std::int64_t length() const override { return positions_.length(); }
  bool can_truncate(std::int64_t new_length) const override {
    return positions_.can_truncate(new_length);
  }
  void truncate(std::int64_t new_length) override { positions_.truncate(new_length); }
  std::unique_ptr<exec::ExecutorState> clone() const override;

  std::int64_t max_context() const override { return limits_.max_context; }
  int max_step_tokens() const override { return limits_.max_step_tokens; }
  int max_chunk_tokens() const override { return limits_.max_chunk_tokens(); }
  const exec::StateLimits& limits() const { return limits_; }
  // The most tokens the segmented attention takes (its partials and arrival counters are sized
  // for this many, about 1 MB a token at the benchmark geometry): StreamRunner runs a longer
  // chunk's attention with the prefill kernel (cuda::prefill_attention; head dims it cannot take
  // in launches of this many), and the persistent engine hands such chunks to the stream runner.
  int attention_tokens() const { return attention_tokens_; }
  // Whether a step of n tokens runs its FP8 linears on the prefill GEMM (cuda::prefill_linear):
  // at least kPrefillGemmMinTokens tokens and more than any decode or verify step of this state
  // (max_step_tokens), so those keep the decode kernels' bits; the persistent engine hands such
  // steps' projections to the stream runner.
  bool prefill_gemm(int n_tokens) const {
    return n_tokens >= kPrefillGemmMinTokens && n_tokens > limits_.max_step_tokens;
  }
  // Position bookkeeping shared with cpu::KvCache (rewind rules identical by construction).
  void commit(int n) { positions_.commit(n); }
  void restore(std::int64_t length, std::int64_t ring_floor) {
    positions_.restore(length, ring_floor);
  }
  std::int64_t ring_floor() const { return positions_.ring_floor(); }
  std::int64_t ring_capacity() const { return ring_capacity_; }
  int ring_layers() const { return ring_layers_; }
  int ring_k_width() const { return ring_k_width_; }
  int ring_v_width() const { return ring_v_width_; }

  const KvCacheView& cache(int layer) const { return caches_[layer]; }
  // Sliding rings (all layers back to back) and their undo copies.
  float* ring_k() const { return ring_k_.as<float>(); }
  float* ring_v() const { return ring_v_.as<float>(); }
  float* undo_k() const { return undo_k_.as<float>(); }
  float* undo_v() const { return undo_v_.as<float>(); }

  // Scratch of one chunk of up to max_chunk_tokens() tokens; `logits` holds max_step_tokens rows
  // (a last-row-only chunk writes row 0), `attention_partial` attention_tokens() tokens.
  struct Scratch {
    DeviceBuffer x, h, delta, q, k, v, heads, router_logits, experts, expert_weights;
    DeviceBuffer gate, up, act, logits, tokens, positions, taps;
    // Expert group table, per-slot down products, segmented attention's partials.
    DeviceBuffer expert_groups, expert_partial, attention_partial;
    // Activations split for the tensor-core tiles (SplitActivations): the normed hidden rows,
    // then the experts' activation rows (or a prefill chunk's dense MLP activations);
    // split_values halves each for hi and lo.
    DeviceBuffer split_hi, split_lo, split_inv;
    std::int64_t split_values = 0, split_rows = 0;
    // Rows x cols of the split buffers as a SplitActivations (rows * cols <= split_values).
    SplitActivations split(int cols) const;
    // Arrival counters of the segmented attention's merge (ops.hpp: attention_arrival_counters),
    // zeroed once; each launch leaves them zero.
    DeviceBuffer arrivals;
    unsigned* attention_arrivals() const { return arrivals.as<unsigned>(); }
  };
  // Key segments of the segmented attention for a layer's cache (fixed per state, so a captured
  // graph stays valid for every position).
  int attention_key_segments(int layer) const;
  // The routes of the `moe_index`-th MoE layer in scratch: chosen experts and their weights,
  // [max_chunk_tokens(), top_k] each (every MoE layer keeps its own: read after the step).
  std::pair<int*, float*> routes(int moe_index);
  // The experts every MoE layer chose for the first n_tokens tokens of the last step (waits).
  std::vector<std::vector<int>> chosen_experts(int n_tokens) const;
  Scratch scratch;
  // Host staging of token ids and positions of a whole run (grown on demand).
  PinnedBuffer staging;
  // Captured single-chunk steps (decode, verify blocks, short prompts), one per shape
  // (token count, all logits or the last, hidden taps; a tensor-parallel rank's steps in its
  // rank's state, logits rows of its vocabulary columns). Host side: step_io (token ids, then
  // positions, max_step_tokens each), step_logits and step_taps, all pinned. A graph holds the
  // addresses of these and of scratch.taps: growing any of them drops every step graph. Only
  // steps of up to max_step_tokens tokens are captured: longer prompt chunks launch directly
  // (their GPU time dwarfs the issue time, and a graph per prompt remainder would cost more than
  // it saves; docs/cuda.md).
  struct StepGraph {
    program::StepShape shape;  // sample_mode 0: logits out; else the sampled tokens out
    cudaGraphExec_t exec = nullptr;
    // Issued by the persistent engine runner of this id (0: the stream runner), whose plans
    // keep_alive holds while the graph may replay.
    std::uint64_t engine = 0;
    std::shared_ptr<const void> keep_alive;
    bool device_taps = false;  // the taps stay in scratch.taps (no download into step_taps)
  };
  std::vector<StepGraph> step_graphs;
  PinnedBuffer step_io, step_logits, step_taps;
  void drop_step_graphs();
  // Names this state's buffers for caches built over their addresses (the persistent engine's
  // op tables): unique among states, and renewed by drop_step_graphs (buffers moved).
  std::uint64_t buffers_id() const { return buffers_id_; }
  // Sample rows of scratch.logits on the device (StepOptions::sample / sample_rows), one sampler
  // a row; made on first use, their buffers never move, so graphs that issue them stay valid.
  std::vector<std::unique_ptr<DeviceSampler>> samplers;
  // Rows of a multi-row sample run side by side (each sampler's chain is a few latency-bound
  // kernels): `fork` recorded on the step's stream, a stream and a join event a row. Made on
  // first use and grown, never moved while a step runs (a captured graph keeps only the edges).
  struct SampleLanes {
    cudaEvent_t fork = nullptr;
    std::vector<cudaStream_t> streams;
    std::vector<cudaEvent_t> joins;
  };
  SampleLanes& sample_lanes(int rows);
  // Device taps (StepOptions::taps_on_device): scratch.taps' first `rows` rows handed to a
  // reader on another stream, with `ready` recorded on `stream` now (exec::DeviceTaps). The
  // reader records `released` after its last read; every step waits for that on its stream
  // before writing scratch.taps (wait_taps_released), and the host waits before scratch.taps is
  // reallocated (sync_taps_released). Events made on first use; never recorded counts as done.
  exec::DeviceTaps hand_out_taps(std::int64_t rows, cudaStream_t stream);
  void wait_taps_released(cudaStream_t stream) const;
  void sync_taps_released() const;

 private:
  const model::ModelConfig& config_;
  exec::StateLimits limits_;
  int attention_tokens_ = 1;
  std::int64_t window_ = 0;
  std::int64_t ring_capacity_ = 0;
  model::KvPositions positions_;
  int ring_layers_ = 0, ring_k_width_ = 0, ring_v_width_ = 0;
  DeviceBuffer full_k_, full_v_, ring_k_, ring_v_, undo_k_, undo_v_;
  std::vector<KvCacheView> caches_;
  std::uint64_t buffers_id_;
  cudaEvent_t taps_ready_ = nullptr, taps_released_ = nullptr;
  SampleLanes lanes_;
};

}  // namespace mimo::cuda
