// The CUDA executor: each chunk's step program (lib/program) issued by StreamRunner as one
// kernel per op on one stream, over weights uploaded once in their stored precision
// (DeviceModel) and per-session device KV caches (full layers linear, sliding layers a ring of
// window + max_chunk_tokens - 1 slots, the same rules as cpu::KvCache). A step of up to
// max_step_tokens tokens (decode, a verify block, a short prompt) is captured into a CUDA graph
// per step shape on first use and replayed; longer prompts launch their chunks directly; token ids
// and positions are read from device memory, and nothing synchronises with the host inside a step.
// No CUDA types in this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/stream/draft_target.hpp"
#include "exec/executor.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::cuda {

struct DeviceModel;
namespace engine {
class EngineRunner;
}

// What the last run() did, for benchmarks.
struct StepStats {
  double host_us = 0;  // host time spent issuing the step (before waiting for its results)
  bool graph = false;  // replayed from a captured graph (decode step or single-chunk step)
  int tokens = 0;
};

class GpuExecutor final : public exec::Executor, public DraftTarget {
 public:
  // config must outlive the executor.
  GpuExecutor(const model::ModelConfig& config, std::unique_ptr<DeviceModel> model);
  ~GpuExecutor() override;

  std::unique_ptr<exec::ExecutorState> new_state(const exec::StateLimits& limits) const override;
  exec::StepOutput run(exec::ExecutorState& state, std::span<const std::int32_t> tokens,
                       const exec::StepOptions& options) const override;
  std::string device_name() const override;
  bool can_sample() const override { return true; }
  std::vector<float> fetch_logits(const exec::ExecutorState& state, int row) const override;

  // Decode steps replay a captured graph (default) or launch kernel by kernel.
  void set_use_graphs(bool on);
  // Which runner issues each step's program: the stream runner (a kernel per op, the default) or
  // the persistent engine (cuda/engine/engine_runner.hpp: its supported ops in persistent
  // launches, the others as stream kernels). Captured step graphs are kept per runner.
  void set_engine(bool persistent);
  // The engine runner (coverage, timelines) while the engine is on; null otherwise.
  engine::EngineRunner* engine_runner() const;
  // When on, direct launches time every op with events; take_profile() returns the total
  // milliseconds per op since the last call, in first-seen order (waits for the device).
  void set_profiling(bool on);
  std::vector<std::pair<std::string, double>> take_profile();
  StepStats last_step() const;
  // Experts the router chose in the state's last chunk: per MoE layer, n_tokens * top_k ids.
  std::vector<std::vector<int>> last_experts(const exec::ExecutorState& state, int n_tokens) const;
  const DeviceModel& device_model() const;
  // The device current when the executor was made, and its own model (DraftTarget).
  int draft_device() const override;
  const DeviceModel& draft_head() const override { return device_model(); }
  // Test hook: the next multi-chunk run fails with kCancelled once `chunks` chunks have been
  // issued, exercising the exact undo of a cancellation between chunks.
  void cancel_after_chunks_for_testing(int chunks);

 private:
  struct Backend;
  std::unique_ptr<Backend> backend_;
};

// Uploads `weights` to CUDA device 0. config and weights must outlive the executor. Throws
// kDevice without a usable device or when memory runs out, kUnsupported for shapes it cannot run.
std::unique_ptr<exec::Executor> make_gpu_executor(const model::ModelConfig& config,
                                                  const model::ModelWeights& weights);

}  // namespace mimo::cuda
