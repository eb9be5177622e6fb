// A queue plan (program/queue_plan.hpp) uploaded for the persistent engine: its tasks, waits and
// queue bounds in device memory, its counters and epoch (zeroed once, never reset between steps)
// and the watchdog's fault record. Planned once per step shape, uploaded once, replayed by every
// step (a captured graph included). No CUDA types in this header.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cuda/engine/engine_queues.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "program/queue_plan.hpp"

namespace mimo::cuda::engine {

class DevicePlan {
 public:
  // Throws mimo::Error(kInvalidArgument) for a plan without queues; kDevice on allocation.
  // `shared_fault`: a fault record in device memory several plans write (the engine runner reads
  // one record a step); null: the plan's own. plan_id names this plan in it.
  explicit DevicePlan(const program::QueuePlan& plan,
                      unsigned long long watchdog_ns = 2'000'000'000ull,
                      EngineFault* shared_fault = nullptr, int plan_id = 0);

  // What the kernel reads (device pointers). Launch one block per queue.
  const EngineQueues& queues() const { return view_; }
  int queue_count() const { return view_.queues; }
  int task_count() const { return static_cast<int>(plan_.tasks.size()); }
  const program::QueuePlan& plan() const { return plan_; }

  // Per-task start / end clocks, recorded by the following steps (off by default: it costs two
  // stores a task).
  void record_timeline(bool on);
  // After the step's kernel finished (synchronize first): the last recorded step's entries.
  std::vector<TimelineEntry> timeline() const;

  // After the step's kernel finished: throws mimo::Error(kDevice) if the watchdog fired, naming
  // the task (through `describe`), its queue, the counter, the signals it needed and saw; the
  // plan's counters and epoch are zeroed first, so the next step runs from a clean state.
  void check_fault(const std::function<std::string(int task)>& describe);
  // The message check_fault throws for a fault record of this plan.
  std::string fault_message(const UnpackedFault& fault,
                            const std::function<std::string(int task)>& describe) const;
  int plan_id() const { return view_.plan_id; }

  // Zeroes counters, epoch and fault (a fresh plan's state). Synchronises the device.
  void reset();

 private:
  program::QueuePlan plan_;  // host copy, to name a stuck task's queue and wait
  DeviceBuffer task_buf_, queue_begin_, waits_, counter_buf_, epoch_, fault_, timeline_;
  EngineQueues view_{};
};

}  // namespace mimo::cuda::engine
