// The GPU stream runner: issues each op of a step program (program/step_program.hpp) as
// today's kernels - one kernel per op, or a few (the MoE's router, gate/up and down) - on one
// stream over a session's GpuState. The executor around it (gpu_executor.cpp) owns graphs,
// sampling staging and the envelope; the tensor-parallel executor will run one per rank.
// No CUDA types in this header.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/gpu_state.hpp"
#include "model/config.hpp"
#include "program/step_program.hpp"

namespace mimo::cuda {

struct DeviceLinear;
struct DeviceModel;

class StreamRunner {
 public:
  // Called after each kernel group with the profile name of what it ran ("qkv linear", ...).
  using Mark = std::function<void(const char*)>;

  // config and model must outlive the runner.
  StreamRunner(const model::ModelConfig& config, const DeviceModel& model);

  // Issues `op` of the program of `shape` (a chunk of shape.tokens tokens whose ids and
  // positions are in s.scratch). kSample samples rows with s.samplers (mode sample_mode - 1).
  void issue(const program::Op& op, const program::StepShape& shape, GpuState& s, Stream stream,
             const Mark& mark) const;

 private:
  void add_norm(const program::Op& op, int n, GpuState& s, Stream st) const;
  void qkv(int layer, int n, GpuState& s, Stream st) const;
  void rope_store_kv(int layer, int n, GpuState& s, Stream st) const;
  void attention(int layer, int n, GpuState& s, Stream st) const;
  void out_proj(int layer, int n, GpuState& s, Stream st) const;
  void dense_mlp(int layer, int n, GpuState& s, Stream st) const;
  void route(int layer, int n, GpuState& s, Stream st) const;
  void experts(int layer, int n, GpuState& s, Stream st, const Mark& mark) const;
  void tap(const program::Op& op, int n, int n_taps, GpuState& s, Stream st) const;
  void lm_head(const program::Op& op, int n, GpuState& s, Stream st) const;
  void sample(const program::Op& op, int n, int sample_mode, GpuState& s, Stream st) const;
  // A linear of the normed rows h, through their F16 split when it runs on tensor cores.
  void apply_normed(const DeviceLinear& w, int n, GpuState& s, float* y, Stream st) const;
  struct NormedOutput {
    const DeviceLinear* w;
    float* y;
  };
  // Several linears of h: one batched launch when every one is FP8 on tensor cores.
  void apply_normed_batch(std::span<const NormedOutput> outputs, int n, GpuState& s,
                          Stream st) const;

  const model::ModelConfig& config_;
  const DeviceModel& model_;
  std::vector<int> moe_index_;  // per layer: its index among the MoE layers (-1: dense)
};

}  // namespace mimo::cuda
