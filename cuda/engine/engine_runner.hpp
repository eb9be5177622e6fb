// The persistent engine as a runner of step programs: each maximal run of consecutive ops it
// supports becomes one persistent launch (a DevicePlan of the run's tiles, cut into chunks, on
// one block per multiprocessor); the other ops go to a fallback (GpuExecutor: the stream
// runner) in between. So a
// step runs correctly whatever the engine supports yet, and every op moved onto it removes
// launches. Supported today: embedding, the fused add + RMSNorm (with its split), the q/k/v and
// o projections on FP8 tensor cores (the o projection's head split as its prologue), RoPE + KV
// store, attention (single-pass and segmented with the fused merge) and hidden taps - the
// stream kernels' tile functions on the same grids, so the bits are the stream runner's. The
// router, experts, dense MLP, lm_head and sampling still run as stream kernels.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "cuda/engine/device_plan.hpp"
#include "cuda/engine/engine_ops.hpp"
#include "cuda/runtime/gpu_state.hpp"
#include "model/config.hpp"
#include "program/step_program.hpp"

namespace mimo::cuda {
struct DeviceModel;
}

namespace mimo::cuda::engine {

class EngineRunner {
 public:
  // config and model must outlive the runner.
  EngineRunner(const model::ModelConfig& config, const DeviceModel& model);
  ~EngineRunner();

  // Plans, uploads and checks the segments of `program` for state s (once per state buffers
  // and step shape). Synchronises the device: call before a graph capture, never inside one.
  // The result keeps the plans (and the fault record) alive: a captured graph holds it.
  std::shared_ptr<const void> prepare(const program::StepProgram& program, GpuState& s);

  // Names this runner and its plan options in captured graphs (GpuState::StepGraph::engine).
  std::uint64_t id() const { return id_; }

  // Test hook: later plans use `queues` blocks (at most the resident count) and, with a nonzero
  // seed, shuffled queues (program::PlanOptions); plans made before are dropped and id() changes.
  void set_plan_for_testing(int queues, std::uint64_t shuffle_seed);
  int queues() const { return queues_; }

  // Projection weights through each block's page ring (the paged kernel: a loader warp, 640
  // threads) or straight from global memory (default: measured faster, docs/performance.md, tenth
  // session); plans made before are dropped and id() changes.
  void set_paging(bool on);

  // Issues `program` on `st`: engine segments as persistent launches (mark("engine segment")
  // after each), the other ops by fallback(op index) (prepare() first; issue() prepares itself
  // when not capturing). Ends with an asynchronous copy of the engine's fault record to the host.
  void issue(const program::StepProgram& program, GpuState& s, Stream st,
             const std::function<void(int op)>& fallback,
             const std::function<void(const char*)>& mark, bool capturing);

  // After a step issued here has finished: throws mimo::Error(kDevice) naming the task and
  // counter if an engine wait outlasted the watchdog (every plan is reset first).
  void check_fault();

  // How many of `program`'s ops the engine runs for state s, in how many launches (prepares).
  struct Coverage {
    int engine_ops = 0, stream_ops = 0, engine_launches = 0;
  };
  Coverage coverage(const program::StepProgram& program, GpuState& s);

  // Per-task timelines of the next steps (tests, mimo-bench --timeline).
  void record_timeline(bool on);
  struct TimelineTask {
    int segment, op, tile, chunk;
    bool prologue;
    const char* op_name;
    TimelineEntry entry;
  };
  // After a step: every engine task of `program`'s last run for state s.
  std::vector<TimelineTask> timeline(const program::StepProgram& program, GpuState& s);

 private:
  struct Segment;
  struct Prepared;
  std::shared_ptr<Prepared> prepared(const program::StepProgram& program, GpuState& s,
                                     bool may_build);
  bool build_op(const program::Op& op, const program::StepShape& shape, GpuState& s,
                EngineOp& out) const;

  const model::ModelConfig& config_;
  const DeviceModel& model_;
  int queues_;
  std::uint64_t shuffle_seed_ = 0;
  std::uint64_t id_;
  bool timeline_ = false;
  bool paged_ = false;
  std::shared_ptr<DeviceBuffer> fault_;  // shared with the plans that write it
  PinnedBuffer fault_host_;
  std::vector<std::shared_ptr<Prepared>> prepared_;
};

}  // namespace mimo::cuda::engine
