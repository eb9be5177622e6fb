// A persistent-engine body for tests: each task checks, with every thread of its block, that
// each task it depends on has finished this step - all of that task's payload words carry this
// step's stamp - then stamps its own payload. So a missing wait, a counter that fires early, a
// stale epoch or a write not yet visible to another multiprocessor shows up as a violation.
#pragma once

#include <vector>

#include "cuda/engine/device_plan.hpp"
#include "program/dependencies.hpp"

namespace mimo::gpu_test {

inline constexpr int kPayloadWords = 256;

struct EngineCheck {
  cuda::DeviceBuffer dep_begin, deps, payload, violations;
  int tasks = 0;
  // Tasks whose body pauses this long before stamping (ns; -1: none): delays a producer so
  // that a missing wait shows.
  int slow_task = -1;
  unsigned slow_ns = 0;
  bool jitter = true;  // short pseudo-random pauses in a quarter of the tasks
  explicit EngineCheck(const program::DependencyGraph& graph);
};

// One step of `plan` with the checking body; returns after the kernel finished.
void run_engine_check(const cuda::engine::DevicePlan& plan, const EngineCheck& check);
// The same launch on the current capture stream (for graph tests).
void launch_engine_check(const cuda::engine::DevicePlan& plan, const EngineCheck& check,
                         void* stream);

struct CheckResult {
  unsigned violations;
  int first_task, first_dependency;
  int unfinished;  // tasks whose payload does not carry this step's stamp
};
// After `steps` steps in all: violations so far, and whether every task carries step `steps`'s
// stamp.
CheckResult read_check(const EngineCheck& check, unsigned steps);

// Blocks of kProbeThreads threads that can be resident at once on this device for the checking
// kernel (the engine needs all its blocks resident).
int resident_check_blocks();

}  // namespace mimo::gpu_test
