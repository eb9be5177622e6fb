// mimo-bench --engine-probe (engine_probe.hpp).
#include "engine_probe.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cuda/engine/device_plan.hpp"
#include "cuda/engine/engine_probe.hpp"
#include "cuda/kernels/cuda_check.hpp"
#include "program/queue_plan.hpp"

namespace mimo::bench {
namespace {

// Median microseconds of one replay of what `issue` launches on a stream, captured once.
template <class Issue>
double replay_us(Issue&& issue) {
  cudaStream_t stream;
  cuda::check(cudaStreamCreate(&stream), "stream");
  cudaGraph_t graph = nullptr;
  cuda::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
  issue(stream);
  cuda::check(cudaStreamEndCapture(stream, &graph), "end capture");
  cudaGraphExec_t exec = nullptr;
  cuda::check(cudaGraphInstantiateWithFlags(&exec, graph, 0), "instantiate");
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<double> us;
  for (int i = 0; i < 55; ++i) {
    cudaEventRecord(a, stream);
    cuda::check(cudaGraphLaunch(exec, stream), "replay");
    cudaEventRecord(b, stream);
    cuda::check(cudaEventSynchronize(b), "replay");
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    if (i >= 5) us.push_back(ms * 1e3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

int multiprocessors() {
  int device = 0, sms = 0;
  cuda::check(cudaGetDevice(&device), "cudaGetDevice");
  cuda::check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "SM count");
  return sms;
}

}  // namespace

void engine_probe(const model::ModelConfig& config, int verify, std::FILE* out) {
  const int sms = multiprocessors();
  std::fprintf(out, "engine probe: empty task bodies vs empty kernel launches (CUDA graphs)\n");
  std::fprintf(out, "%-10s %6s %6s %7s %10s %11s %12s %11s\n", "step", "ops", "tasks", "queues",
               "engine us", "us a op", "launches us", "us a launch");
  for (int tokens : {1, verify}) {
    program::StepShape shape;
    shape.tokens = tokens;
    shape.all_logits = tokens > 1;
    const program::StepProgram p = program::build_step_program(config, shape);
    const int ops = static_cast<int>(p.ops.size());
    const double chain =
        replay_us([&](cudaStream_t s) { cuda::engine::run_launch_chain(ops, sms, s); });
    for (int queues : {sms, 2 * sms}) {
      const program::QueuePlan plan = program::plan_queues(p, program::PlanOptions{queues, 0});
      cuda::engine::DevicePlan device(plan);
      const double engine = replay_us([&](cudaStream_t s) { cuda::engine::run_probe(device, s); });
      device.check_fault([](int t) { return "task " + std::to_string(t); });
      const std::string name = tokens == 1 ? "decode-1" : "verify-" + std::to_string(tokens);
      std::fprintf(out, "%-10s %6d %6zu %7d %10.1f %11.3f %12.1f %11.3f\n", name.c_str(), ops,
                   plan.tasks.size(), queues, engine, engine / ops, chain, chain / ops);
    }
  }
}

}  // namespace mimo::bench
