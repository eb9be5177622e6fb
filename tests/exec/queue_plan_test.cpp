// Queue plans for the persistent engine (program/queue_plan.hpp), checked on the CPU: every
// plan - any queue count, round-robin or shuffled - enforces the task graph through its counter
// waits and never deadlocks; the simulated engine's orders, over several steps with counters
// never reset, respect the graph and give the CPU interpreter bit-identical outputs; and broken
// plans (a wait dropped, a queue reordered against its waits) are caught, naming the task and
// counter.
#include "program/queue_plan.hpp"

#include <algorithm>
#include <cstring>

#include "cpu/random_model.hpp"
#include "exec/cpu_executor.hpp"
#include "io/checkpoint.hpp"
#include "mimo/error.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "support/catch.hpp"
#include "support/step_helpers.hpp"

namespace mimo::exec {
namespace {

using testing::same_bits;
using testing::shape_of;
using testing::tokens_for;

using program::CounterWait;
using program::PlanOptions;
using program::QueuePlan;

// decode, verify with taps, a prefill chunk without logits.
std::vector<program::StepShape> shapes(int layers) {
  program::StepShape prefill = shape_of(8, false, {0, layers - 1});
  prefill.logits = false;
  return {shape_of(1, false, {}), shape_of(8, true, {0, layers / 2, layers - 1}), prefill};
}

// The message of the mimo::Error `f` throws ("" if none): Catch2 v2 and v3 spell substring
// matchers differently.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("queue plans enforce the task graph for every queue count and placement") {
  const auto m = cpu::testing::make_random_model(11);
  for (const program::StepShape& shape : shapes(m->config.num_layers)) {
    const program::StepProgram p = program::build_step_program(m->config, shape);
    for (int queues : {1, 2, 3, 8, 132}) {
      for (std::uint64_t seed : {0, 1, 2, 3}) {
        INFO("tokens " << shape.tokens << ", " << queues << " queues, shuffle seed " << seed);
        const QueuePlan plan = program::plan_queues(p, PlanOptions{queues, seed});
        const program::DependencyGraph graph = program::dependencies(plan.tasks);
        REQUIRE_NOTHROW(program::check_plan(plan, graph));
        REQUIRE(plan.queues.size() == static_cast<std::size_t>(queues));
        // Three steps on the same counters: the epoch tags, not a reset, separate them.
        const auto orders = program::simulate_plan(plan, 3, 100 + seed);
        REQUIRE(orders.size() == 3u);
        for (const std::vector<int>& order : orders) REQUIRE(program::respects(graph, order));
        if (seed == 0) {  // round-robin: balanced queues
          std::size_t lo = plan.tasks.size(), hi = 0;
          for (const auto& q : plan.queues) {
            lo = std::min(lo, q.size());
            hi = std::max(hi, q.size());
          }
          CHECK(hi - lo <= 1);
        }
      }
    }
  }
}

TEST_CASE("queue plans wait per op and drop waits that others imply") {
  const auto m = cpu::testing::make_random_model(11);
  const program::StepProgram p = program::build_step_program(m->config, shape_of(1, false, {}));
  const QueuePlan plan = program::plan_queues(p, PlanOptions{4, 0});
  REQUIRE(plan.producers.size() == p.ops.size());
  std::size_t waits = 0, edges = 0;
  const program::DependencyGraph graph = program::dependencies(plan.tasks);
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    REQUIRE(plan.signals[t] == plan.tasks[t].op);
    waits += plan.waits[t].size();
    edges += graph.waits_for[t].size();
    for (const CounterWait& w : plan.waits[t]) {
      CHECK(w.counter < plan.tasks[t].op);
      CHECK(w.count == plan.producers[w.counter]);
    }
  }
  // The ops form nearly a chain: about one wait a task, against many pairwise edges.
  CHECK(waits < 2 * plan.tasks.size());
  CHECK(edges > 4 * waits);
  // A projection's tiles each signal its op's counter.
  const auto qkv = std::find_if(p.ops.begin(), p.ops.end(), [](const program::Op& o) {
    return o.kind == program::OpKind::kQkv;
  });
  REQUIRE(qkv != p.ops.end());
  CHECK(plan.producers[qkv - p.ops.begin()] == qkv->tiling.count);
  CHECK(qkv->tiling.count > 1);
}

TEST_CASE("a dropped wait or a queue ordered against its waits is caught") {
  const auto m = cpu::testing::make_random_model(11);
  const program::StepProgram p = program::build_step_program(m->config, shape_of(2, true, {1}));
  const QueuePlan plan = program::plan_queues(p, PlanOptions{3, 0});
  const program::DependencyGraph graph = program::dependencies(plan.tasks);
  int dropped = 0;
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    for (std::size_t w = 0; w < plan.waits[t].size(); ++w) {
      QueuePlan broken = plan;
      broken.waits[t].erase(broken.waits[t].begin() + static_cast<long>(w));
      INFO("task " << program::describe_task(p, plan, static_cast<int>(t)) << ", wait " << w);
      REQUIRE(has(error_of([&] { program::check_plan(broken, graph); }),
                  "no chain of waits enforces it"));
      ++dropped;
    }
  }
  CHECK(dropped > 10);

  // One queue, two dependent tasks swapped: the simulator (and so check_plan) reports the stuck
  // head, the counter it waits on, the signals it needs and those seen.
  QueuePlan one = program::plan_queues(p, PlanOptions{1, 0});
  int consumer = -1;
  for (std::size_t t = 0; t < one.tasks.size() && consumer < 0; ++t) {
    if (!one.waits[t].empty()) consumer = static_cast<int>(t);
  }
  REQUIRE(consumer > 0);
  std::vector<int>& q = one.queues[0];
  const int producer_op = one.waits[consumer].front().counter;
  const auto producer =
      std::find_if(q.begin(), q.end(), [&](int t) { return one.signals[t] == producer_op; });
  std::iter_swap(producer, std::find(q.begin(), q.end(), consumer));
  const std::string stuck = error_of([&] { program::simulate_plan(one, 1, 0); });
  INFO(stuck);
  REQUIRE(has(stuck, "deadlocks"));
  CHECK(has(stuck, "waits on counter"));
  CHECK(has(stuck, "seen 0"));
  CHECK_THROWS_AS(program::check_plan(one, program::dependencies(one.tasks)), Error);

  QueuePlan greedy = plan;  // a wait for more signals than the counter gets
  for (auto& waits : greedy.waits) {
    if (!waits.empty()) {
      ++waits.front().count;
      break;
    }
  }
  CHECK(has(error_of([&] { program::check_plan(greedy, graph); }), "signals of counter"));
  QueuePlan twice = plan;  // a task on two queues
  twice.queues[1].push_back(twice.queues[0].front());
  CHECK(has(error_of([&] { program::check_plan(twice, graph); }), "is on 2 queues"));
  CHECK_THROWS_AS(program::plan_queues(p, PlanOptions{0, 0}), Error);
}

TEST_CASE("chunks and prologues: every chunk signals, tiles wait for their op's prologue") {
  const auto m = cpu::testing::make_random_model(11);
  const program::StepProgram p = program::build_step_program(m->config, shape_of(8, true, {2}));
  PlanOptions options{9, 0};
  options.chunks = [](const program::Op& op) {
    return op.kind == program::OpKind::kAttention || op.kind == program::OpKind::kRopeStoreKv ? 3
                                                                                              : 1;
  };
  options.prologue_chunks = [](const program::Op& op) {
    return op.kind == program::OpKind::kOutProj ? 2 : 0;
  };
  for (std::uint64_t shuffle : {0, 4}) {
    options.shuffle_seed = shuffle;
    const QueuePlan plan = program::plan_queues(p, options);
    const program::DependencyGraph graph = program::plan_dependencies(plan);
    REQUIRE_NOTHROW(program::check_plan(plan, graph));
    REQUIRE(plan.parts.size() == plan.tasks.size());
    std::size_t prologues = 0;
    for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
      const program::Op& op = p.ops[plan.tasks[t].op];
      const program::TaskPart& part = plan.parts[t];
      if (part.prologue) {
        ++prologues;
        CHECK(op.kind == program::OpKind::kOutProj);
        CHECK(part.chunks == 2);
        CHECK(plan.signals[t] >= static_cast<int>(p.ops.size()));
      } else {
        CHECK(part.chunks ==
              (op.kind == program::OpKind::kAttention || op.kind == program::OpKind::kRopeStoreKv
                   ? 3
                   : 1));
        CHECK(plan.signals[t] == plan.tasks[t].op);
        if (op.kind == program::OpKind::kOutProj) {  // waits only for its prologue
          REQUIRE(plan.waits[t].size() == 1u);
          CHECK(plan.waits[t][0].counter >= static_cast<int>(p.ops.size()));
        }
      }
    }
    CHECK(prologues == 2u * static_cast<std::size_t>(m->config.num_layers));
    for (const std::vector<int>& order : program::simulate_plan(plan, 2, 3 + shuffle)) {
      REQUIRE(program::respects(graph, order));
      // Every prologue chunk of an op runs before any of its tiles.
      std::vector<int> seen_prologue(p.ops.size(), 0);
      for (int t : order) {
        if (plan.parts[t].prologue) {
          ++seen_prologue[plan.tasks[t].op];
        } else if (p.ops[plan.tasks[t].op].kind == program::OpKind::kOutProj) {
          CHECK(seen_prologue[plan.tasks[t].op] == 2);
        }
      }
    }
  }
}

// The order the simulated engine ran the tasks of each chunk in (a fresh plan and seed a
// chunk).
struct SimulatedOrders {
  int queues;
  std::uint64_t seed;
  static std::vector<program::Task> next(const program::StepProgram& p, void* self) {
    auto* s = static_cast<SimulatedOrders*>(self);
    const QueuePlan plan = program::plan_queues(p, PlanOptions{s->queues, s->seed});
    const std::vector<int> order = program::simulate_plan(plan, 1, s->seed++).front();
    std::vector<program::Task> tasks;
    for (int t : order) tasks.push_back(plan.tasks[t]);
    return tasks;
  }
};

void check_simulated_engine(const model::ModelConfig& config, const model::ModelWeights& weights) {
  CpuExecutor executor(config, weights, 2);
  const auto history = tokens_for(9, config.vocab_size, 1);
  const auto step = tokens_for(8, config.vocab_size, 2);
  StepOptions options;
  options.all_logits = true;
  options.hidden_taps = {0, config.num_layers - 1};
  const auto run = [&] {
    const auto state = executor.new_state({64, 8});
    executor.run(*state, history, StepOptions{});
    return executor.run(*state, step, options);
  };
  executor.set_task_order_for_testing(nullptr, nullptr);
  const StepOutput reference = run();
  for (int queues : {1, 5, 132}) {
    for (std::uint64_t seed : {0, 7}) {
      SimulatedOrders orders{queues, seed};
      executor.set_task_order_for_testing(&SimulatedOrders::next, &orders);
      const StepOutput out = run();
      INFO(queues << " queues, shuffle seed " << seed);
      CHECK(same_bits(out.logits, reference.logits));
      CHECK(same_bits(out.hidden, reference.hidden));
    }
  }
  executor.set_task_order_for_testing(nullptr, nullptr);
}

TEST_CASE("the simulated engine gives the CPU interpreter's bits on every fixture") {
  for (const char* name : {"tiny-bf16", "tiny-fp8", "tiny-mxfp4", "tiny-hub-fused"}) {
    INFO("fixture " << name);
    const std::string dir = std::string(MIMO_TEST_DATA_DIR) + "/models/" + name;
    const model::ModelConfig config = model::load_model_config(dir);
    const io::Checkpoint checkpoint = io::Checkpoint::open(dir);
    const model::ModelWeights weights = model::bind_weights(config, checkpoint);
    check_simulated_engine(config, weights);
  }
  const auto m = cpu::testing::make_random_model(11);
  check_simulated_engine(m->config, m->weights);
}

}  // namespace
}  // namespace mimo::exec
