// The checking body of engine_check.hpp and its launches.
#include <cuda_runtime.h>

#include "cuda/engine/engine_probe.hpp"
#include "cuda/engine/queue_loop.cuh"
#include "cuda/kernels/cuda_check.hpp"
#include "engine_check.hpp"

namespace mimo::gpu_test {
namespace {

using cuda::engine::EngineQueues;
using cuda::engine::EngineTask;

__host__ __device__ inline unsigned stamp(int task, int word, unsigned step) {
  return (step * 2654435761u) ^ (static_cast<unsigned>(task) * 40503u + word);
}

__device__ inline unsigned mix(unsigned x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  return x;
}

struct CheckBody {
  const int* dep_begin;
  const int* deps;
  unsigned* payload;
  unsigned* violations;  // [count, first task, first dependency]
  int slow_task;
  unsigned slow_ns;
  bool jitter;
  __device__ void prefetch(const EngineTask*, int) const {}
  __device__ void operator()(const EngineTask* run, int count, unsigned epoch) const {
    for (int r = 0; r < count; ++r) task(run[r], epoch);
  }
  __device__ void task(const EngineTask& t, unsigned epoch) const {
    const unsigned step = epoch + 1;
    for (int d = dep_begin[t.task]; d < dep_begin[t.task + 1]; ++d) {
      const int u = deps[d];
      for (int w = threadIdx.x; w < kPayloadWords; w += blockDim.x) {
        if (payload[static_cast<std::size_t>(u) * kPayloadWords + w] != stamp(u, w, step)) {
          if (atomicAdd(&violations[0], 1u) == 0) {
            violations[1] = t.task;
            violations[2] = u;
          }
        }
      }
    }
    if (threadIdx.x == 0) {
      if (t.task == slow_task) {
        for (unsigned waited = 0; waited < slow_ns; waited += 1000) __nanosleep(1000);
      } else if (jitter) {
        const unsigned h = mix(t.task * 977u + epoch);
        if ((h & 3u) == 0) __nanosleep(h % 4000u);
      }
    }
    __syncthreads();
    for (int w = threadIdx.x; w < kPayloadWords; w += blockDim.x) {
      payload[static_cast<std::size_t>(t.task) * kPayloadWords + w] = stamp(t.task, w, step);
    }
  }
};

__global__ void __launch_bounds__(cuda::engine::kProbeThreads)
    check_kernel(EngineQueues e, CheckBody body) {
  cuda::engine::run_queue(e, body, blockDim.x);
}

CheckBody body_of(const EngineCheck& c) {
  return CheckBody{c.dep_begin.as<int>(),
                   c.deps.as<int>(),
                   c.payload.as<unsigned>(),
                   c.violations.as<unsigned>(),
                   c.slow_task,
                   c.slow_ns,
                   c.jitter};
}

}  // namespace

EngineCheck::EngineCheck(const program::DependencyGraph& graph) {
  tasks = static_cast<int>(graph.waits_for.size());
  std::vector<int> begin{0}, all;
  for (const std::vector<int>& d : graph.waits_for) {
    all.insert(all.end(), d.begin(), d.end());
    begin.push_back(static_cast<int>(all.size()));
  }
  if (all.empty()) all.push_back(0);
  dep_begin = cuda::to_device(begin);
  deps = cuda::to_device(all);
  payload = cuda::DeviceBuffer(std::size_t(tasks) * kPayloadWords * sizeof(unsigned));
  violations = cuda::DeviceBuffer(3 * sizeof(unsigned));
  cuda::check(cudaMemset(payload.get(), 0, payload.bytes()), "payload reset");
  cuda::check(cudaMemset(violations.get(), 0, violations.bytes()), "violations reset");
}

void launch_engine_check(const cuda::engine::DevicePlan& plan, const EngineCheck& check,
                         void* stream) {
  check_kernel<<<plan.queue_count(), cuda::engine::kProbeThreads, 0,
                 static_cast<cudaStream_t>(stream)>>>(plan.queues(), body_of(check));
  cuda::check(cudaGetLastError(), "engine check launch");
}

void run_engine_check(const cuda::engine::DevicePlan& plan, const EngineCheck& check) {
  launch_engine_check(plan, check, nullptr);
  cuda::check(cudaDeviceSynchronize(), "engine check step");
}

CheckResult read_check(const EngineCheck& check, unsigned steps) {
  const std::vector<unsigned> v = cuda::to_host<unsigned>(check.violations, 3);
  const std::vector<unsigned> payload =
      cuda::to_host<unsigned>(check.payload, std::size_t(check.tasks) * kPayloadWords);
  CheckResult r{v[0], static_cast<int>(v[1]), static_cast<int>(v[2]), 0};
  for (int t = 0; t < check.tasks; ++t) {
    for (int w = 0; w < kPayloadWords; ++w) {
      if (payload[std::size_t(t) * kPayloadWords + w] != stamp(t, w, steps)) {
        ++r.unfinished;
        break;
      }
    }
  }
  return r;
}

int resident_check_blocks() {
  int per_sm = 0, device = 0, sms = 0;
  cuda::check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, check_kernel,
                                                            cuda::engine::kProbeThreads, 0),
              "occupancy of the engine check kernel");
  cuda::check(cudaGetDevice(&device), "cudaGetDevice");
  cuda::check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
              "multiprocessor count");
  return per_sm * sms;
}

}  // namespace mimo::gpu_test
