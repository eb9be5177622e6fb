// Uploading a queue plan and reading back the engine's fault record (device_plan.hpp).
#include "cuda/engine/device_plan.hpp"

#include <cuda_runtime.h>

#include <algorithm>

#include "cuda/kernels/cuda_check.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda::engine {

DevicePlan::DevicePlan(const program::QueuePlan& plan, unsigned long long watchdog_ns,
                       EngineFault* shared_fault, int plan_id) {
  if (plan.queues.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "engine::DevicePlan: a plan without queues");
  }
  plan_ = plan;
  std::vector<EngineTask> tasks;
  std::vector<EngineWait> waits;
  std::vector<int> queue_begin{0};
  for (const std::vector<int>& queue : plan.queues) {
    for (std::size_t i = 0; i < queue.size();) {
      // A run: consecutive tasks of one op and part, signalling one counter.
      const int first = queue[i];
      std::size_t n = 1;
      while (i + n < queue.size() && n < static_cast<std::size_t>(kMaxRun) &&
             plan.tasks[queue[i + n]].op == plan.tasks[first].op &&
             plan.parts[queue[i + n]].prologue == plan.parts[first].prologue &&
             plan.signals[queue[i + n]] == plan.signals[first]) {
        ++n;
      }
      std::vector<program::CounterWait> run_waits;  // every task's, the largest count a counter
      for (std::size_t r = 0; r < n; ++r) {
        for (const program::CounterWait& w : plan.waits[queue[i + r]]) {
          auto same = std::find_if(run_waits.begin(), run_waits.end(),
                                   [&](const auto& x) { return x.counter == w.counter; });
          if (same == run_waits.end()) {
            run_waits.push_back(w);
          } else {
            same->count = std::max(same->count, w.count);
          }
        }
      }
      for (std::size_t r = 0; r < n; ++r) {
        const int t = queue[i + r];
        const program::TaskPart& part = plan.parts[t];
        EngineTask task{t,
                        plan.tasks[t].op,
                        plan.tasks[t].tile,
                        part.chunk,
                        part.chunks,
                        part.prologue ? 1 : 0,
                        static_cast<int>(waits.size()),
                        static_cast<int>(waits.size()),
                        plan.signals[t],
                        r == 0 ? static_cast<int>(n) : 0};
        if (r == 0) {
          for (const program::CounterWait& w : run_waits) {
            waits.push_back({w.counter, w.count, static_cast<unsigned>(plan.producers[w.counter])});
          }
          task.wait_end = static_cast<int>(waits.size());
        }
        tasks.push_back(task);
      }
      i += n;
    }
    queue_begin.push_back(static_cast<int>(tasks.size()));
  }
  if (waits.empty()) waits.push_back({0, 0, 0});  // no zero-byte buffers
  if (tasks.empty()) tasks.push_back({});
  task_buf_ = to_device(tasks);
  queue_begin_ = to_device(queue_begin);
  waits_ = to_device(waits);
  counter_buf_ = DeviceBuffer(std::max<std::size_t>(plan.producers.size(), 1) * sizeof(unsigned));
  epoch_ = DeviceBuffer(sizeof(EngineEpoch));
  if (shared_fault == nullptr) fault_ = DeviceBuffer(sizeof(EngineFault));
  view_.tasks = task_buf_.as<EngineTask>();
  view_.queue_begin = queue_begin_.as<int>();
  view_.waits = waits_.as<EngineWait>();
  view_.counters = counter_buf_.as<unsigned>();
  view_.epoch = epoch_.as<EngineEpoch>();
  view_.fault = shared_fault != nullptr ? shared_fault : fault_.as<EngineFault>();
  view_.plan_id = plan_id;
  view_.timeline = nullptr;
  view_.watchdog_ns = watchdog_ns;
  view_.queues = static_cast<int>(plan.queues.size());
  reset();
}

void DevicePlan::reset() {
  check(cudaMemset(counter_buf_.get(), 0, counter_buf_.bytes()), "engine counters reset");
  check(cudaMemset(epoch_.get(), 0, epoch_.bytes()), "engine epoch reset");
  check(cudaMemset(view_.fault, 0, sizeof(EngineFault)), "engine fault reset");
  check(cudaDeviceSynchronize(), "engine plan reset");
}

void DevicePlan::record_timeline(bool on) {
  if (on && timeline_.bytes() == 0) {
    timeline_ = DeviceBuffer(std::size_t(std::max(task_count(), 1)) * sizeof(TimelineEntry));
    check(cudaMemset(timeline_.get(), 0, timeline_.bytes()), "engine timeline reset");
  }
  view_.timeline = on ? timeline_.as<TimelineEntry>() : nullptr;
}

std::vector<TimelineEntry> DevicePlan::timeline() const {
  if (timeline_.bytes() == 0) return {};
  return to_host<TimelineEntry>(timeline_, static_cast<std::size_t>(task_count()));
}

std::string DevicePlan::fault_message(const UnpackedFault& fault,
                                      const std::function<std::string(int task)>& describe) const {
  int queue = -1, need = -1;
  for (std::size_t q = 0; q < plan_.queues.size(); ++q) {
    for (int t : plan_.queues[q]) {
      if (t == fault.task) queue = static_cast<int>(q);
    }
  }
  if (fault.task >= 0 && fault.task < task_count()) {
    for (const program::CounterWait& w : plan_.waits[fault.task]) {
      if (w.counter == fault.counter) need = w.count;
    }
  }
  return "persistent engine: " + describe(fault.task) + " on queue " + std::to_string(queue) +
         " waited past the watchdog for counter " + std::to_string(fault.counter) + ": needed " +
         std::to_string(need) + " signals this step, saw " + std::to_string(fault.seen) +
         "; the step was abandoned";
}

void DevicePlan::check_fault(const std::function<std::string(int task)>& describe) {
  EngineFault fault{};
  copy_to_host(&fault, view_.fault, sizeof(fault));
  if (fault.stuck == 0) return;
  reset();
  throw Error(ErrorCode::kDevice, fault_message(unpack_fault(fault.stuck), describe));
}

}  // namespace mimo::cuda::engine
