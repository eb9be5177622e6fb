// Empty-bodied engine and launch chain (engine_probe.hpp).
#include "cuda/engine/engine_probe.hpp"
#include "cuda/engine/queue_loop.cuh"
#include "cuda/kernels/launch_support.cuh"

namespace mimo::cuda::engine {
namespace {

struct EmptyBody {
  __device__ void prefetch(const EngineTask*, int) const {}
  __device__ void operator()(const EngineTask*, int, unsigned) const {}
};

__global__ void __launch_bounds__(kProbeThreads) probe_kernel(EngineQueues e) {
  EmptyBody body;
  run_queue(e, body, blockDim.x);
}

__global__ void empty_kernel() {
  launch::follow_previous_kernel();
}

}  // namespace

void run_probe(const DevicePlan& plan, Stream stream) {
  probe_kernel<<<plan.queue_count(), kProbeThreads, 0, launch::as_stream(stream)>>>(plan.queues());
  launch::check_launch("engine probe");
}

void run_launch_chain(int launches, int blocks, Stream stream) {
  for (int i = 0; i < launches; ++i) {
    launch::launch_kernel("empty kernel", empty_kernel, blocks, kProbeThreads, 0,
                          launch::as_stream(stream));
  }
}

}  // namespace mimo::cuda::engine
