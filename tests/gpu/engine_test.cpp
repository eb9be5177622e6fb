// The persistent engine's queue machinery on the device (cuda/engine): the queue plans of real
// step programs - the benchmark geometry's 48-layer decode and verify steps, a random model's
// steps - run with a checking body (engine_check.hpp) in which every task verifies that each
// task it depends on has finished and published its writes. Every grid size, shuffled queues,
// several steps without resets, a captured graph replayed; the check fails when a wait is
// missing; a wait that can never hold ends in a mimo::Error naming the task and counter, not a
// hang.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cpu/random_model.hpp"
#include "cuda/engine/device_plan.hpp"
#include "cuda/kernels/cuda_check.hpp"
#include "engine_check.hpp"
#include "mimo/error.hpp"
#include "model/benchmark_config.hpp"
#include "program/queue_plan.hpp"
#include "support/catch.hpp"

namespace mimo::gpu_test {
namespace {

using cuda::engine::DevicePlan;
using program::PlanOptions;
using program::QueuePlan;

program::StepShape shape_of(int tokens, bool all_logits, std::vector<int> taps) {
  program::StepShape s;
  s.tokens = tokens;
  s.all_logits = all_logits;
  s.taps = std::move(taps);
  return s;
}

// Runs `steps` steps of `plan` and requires no violation and every task finished each time.
void check_steps(const QueuePlan& plan, const program::DependencyGraph& graph, int steps) {
  DevicePlan device(plan);
  EngineCheck check(graph);
  for (int s = 1; s <= steps; ++s) {
    run_engine_check(device, check);
    device.check_fault([](int t) { return "task " + std::to_string(t); });
    const CheckResult r = read_check(check, static_cast<unsigned>(s));
    INFO("step " << s << ": first violation task " << r.first_task << " before dependency "
                 << r.first_dependency);
    REQUIRE(r.violations == 0u);
    REQUIRE(r.unfinished == 0);
  }
}

TEST_CASE("engine: the benchmark geometry's step plans run in dependency order on any grid") {
  const int resident = resident_check_blocks();
  REQUIRE(resident >= 1);
  const model::ModelConfig config = model::benchmark_config();
  for (const program::StepShape& shape : {shape_of(1, false, {}), shape_of(8, true, {1, 24, 46})}) {
    const program::StepProgram p = program::build_step_program(config, shape);
    for (int queues : {1, 13, 132, resident}) {
      if (queues > resident) continue;
      for (std::uint64_t shuffle : {0, 5}) {
        INFO("tokens " << shape.tokens << ", " << queues << " queues, shuffle " << shuffle);
        const QueuePlan plan = program::plan_queues(p, PlanOptions{queues, shuffle});
        const program::DependencyGraph graph = program::plan_dependencies(plan);
        program::check_plan(plan, graph);
        check_steps(plan, graph, 3);
      }
    }
  }
}

TEST_CASE("engine: random models' prefill plans, many shuffles") {
  const auto m = cpu::testing::make_random_model(11);
  program::StepShape prefill = shape_of(16, false, {0, 3});
  prefill.logits = false;
  const program::StepProgram p = program::build_step_program(m->config, prefill);
  for (std::uint64_t shuffle = 1; shuffle <= 12; ++shuffle) {
    INFO("shuffle " << shuffle);
    const QueuePlan plan = program::plan_queues(p, PlanOptions{int(3 + shuffle * 7), shuffle});
    const program::DependencyGraph graph = program::plan_dependencies(plan);
    check_steps(plan, graph, 2);
  }
}

TEST_CASE("engine: a captured step replays with the epoch in device memory") {
  const auto m = cpu::testing::make_random_model(11);
  const program::StepProgram p = program::build_step_program(m->config, shape_of(4, true, {1}));
  const QueuePlan plan = program::plan_queues(p, PlanOptions{40, 3});
  const program::DependencyGraph graph = program::plan_dependencies(plan);
  DevicePlan device(plan);
  EngineCheck check(graph);
  cudaStream_t stream;
  cuda::check(cudaStreamCreate(&stream), "stream");
  cudaGraph_t g = nullptr;
  cuda::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
  launch_engine_check(device, check, stream);
  cuda::check(cudaStreamEndCapture(stream, &g), "end capture");
  cudaGraphExec_t exec = nullptr;
  cuda::check(cudaGraphInstantiateWithFlags(&exec, g, 0), "instantiate");
  for (unsigned s = 1; s <= 4; ++s) {
    cuda::check(cudaGraphLaunch(exec, stream), "replay");
    cuda::check(cudaStreamSynchronize(stream), "replay sync");
    const CheckResult r = read_check(check, s);
    INFO("replay " << s);
    REQUIRE(r.violations == 0u);
    REQUIRE(r.unfinished == 0);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(g);
  cudaStreamDestroy(stream);
}

TEST_CASE("engine: the check fails when a wait is missing") {
  const auto m = cpu::testing::make_random_model(11);
  const program::StepProgram p = program::build_step_program(m->config, shape_of(1, false, {}));
  QueuePlan plan = program::plan_queues(p, PlanOptions{1, 0});
  const program::DependencyGraph graph = program::plan_dependencies(plan);
  // A consumer alone on a second queue without its waits, its producer slowed down on the
  // first: the consumer runs first and sees an unfinished dependency.
  int consumer = -1, producer = -1;
  for (int t = 0; t < static_cast<int>(plan.tasks.size()) && consumer < 0; ++t) {
    if (!graph.waits_for[t].empty()) {
      consumer = t;
      producer = graph.waits_for[t].back();
    }
  }
  REQUIRE(consumer >= 0);
  plan.waits[consumer].clear();
  plan.queues[0].erase(std::find(plan.queues[0].begin(), plan.queues[0].end(), consumer));
  plan.queues.push_back({consumer});
  DevicePlan device(plan);
  EngineCheck check(graph);
  check.slow_task = producer;
  check.slow_ns = 2'000'000;
  check.jitter = false;
  run_engine_check(device, check);
  const CheckResult r = read_check(check, 1);
  CHECK(r.violations > 0u);
  CHECK(r.first_task == consumer);
}

TEST_CASE("engine: a wait that cannot hold fails the step naming task and counter") {
  const auto m = cpu::testing::make_random_model(11);
  const program::StepProgram p = program::build_step_program(m->config, shape_of(1, false, {}));
  QueuePlan plan = program::plan_queues(p, PlanOptions{8, 0});
  const program::DependencyGraph graph = program::plan_dependencies(plan);
  int starved = -1;
  for (int t = 0; t < static_cast<int>(plan.tasks.size()) && starved < 0; ++t) {
    if (!plan.waits[t].empty()) starved = t;
  }
  REQUIRE(starved >= 0);
  const QueuePlan good = plan;
  ++plan.waits[starved][0].count;          // one signal more than the counter ever gets
  DevicePlan device(plan, 50'000'000ull);  // a 50 ms watchdog
  EngineCheck check(graph);
  run_engine_check(device, check);  // returns: the blocks gave up
  std::string message;
  try {
    device.check_fault([&](int t) { return program::describe_task(p, plan, t); });
  } catch (const Error& e) {
    message = e.what();
    CHECK(e.code() == ErrorCode::kDevice);
  }
  INFO(message);
  CHECK(message.find(program::describe_task(p, plan, starved)) != std::string::npos);
  CHECK(message.find("counter " + std::to_string(plan.waits[starved][0].counter)) !=
        std::string::npos);
  CHECK(message.find("waited past the watchdog") != std::string::npos);
  // The fault reset the plan's state: the corrected plan runs clean afterwards.
  DevicePlan fixed(good);
  EngineCheck again(graph);
  run_engine_check(fixed, again);
  fixed.check_fault([](int t) { return std::to_string(t); });
  CHECK(read_check(again, 1).violations == 0u);
  CHECK(read_check(again, 1).unfinished == 0);
}

TEST_CASE("engine: the timeline records every task once") {
  const auto m = cpu::testing::make_random_model(11);
  const program::StepProgram p = program::build_step_program(m->config, shape_of(2, true, {}));
  const QueuePlan plan = program::plan_queues(p, PlanOptions{16, 0});
  DevicePlan device(plan);
  device.record_timeline(true);
  EngineCheck check(program::plan_dependencies(plan));
  run_engine_check(device, check);
  const std::vector<cuda::engine::TimelineEntry> timeline = device.timeline();
  REQUIRE(timeline.size() == plan.tasks.size());
  for (std::size_t q = 0; q < plan.queues.size(); ++q) {
    unsigned long long previous_end = 0;
    for (int t : plan.queues[q]) {
      INFO("queue " << q << ", task " << t);
      CHECK(timeline[t].queue == static_cast<int>(q));
      CHECK(timeline[t].start_ns > 0u);
      CHECK(timeline[t].end_ns >= timeline[t].start_ns);
      CHECK(timeline[t].start_ns >= previous_end);  // a queue runs its tasks in order
      previous_end = timeline[t].end_ns;
    }
  }
}

}  // namespace
}  // namespace mimo::gpu_test
