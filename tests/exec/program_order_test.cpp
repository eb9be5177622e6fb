// The step programs' dependency graphs are complete: the CPU interpreter running a program's
// ops in many random orders that respect the graph gives logits and hidden taps bit-identical to
// program order, for decode, verify and prefill shapes of every fixture and of a random model;
// and the check can fail - with any one non-redundant edge dropped, an order that violates it
// changes the bits. The persistent engine schedules tiles by exactly these edges.
#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "cpu/random_model.hpp"
#include "exec/cpu_executor.hpp"
#include "exec/step_envelope.hpp"
#include "io/checkpoint.hpp"
#include "mimo/error.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "program/dependencies.hpp"
#include "support/catch.hpp"
#include "support/dependency_orders.hpp"
#include "support/step_helpers.hpp"

namespace mimo::exec {
namespace {

using testing::deferred_order;
using testing::implied;
using testing::ordered;
using testing::same_bits;
using testing::tokens_for;

struct Loaded {
  model::ModelConfig config;
  io::Checkpoint checkpoint;
  model::ModelWeights weights;
};

std::unique_ptr<Loaded> load_fixture(const std::string& name) {
  const std::string dir = std::string(MIMO_TEST_DATA_DIR) + "/models/" + name;
  auto l = std::make_unique<Loaded>(
      Loaded{model::load_model_config(dir), io::Checkpoint::open(dir), {}});
  l->weights = model::bind_weights(l->config, l->checkpoint);
  return l;
}

// A step's outputs after a fixed history: prefill `history`, then `step` with `options`.
struct Outputs {
  std::vector<float> logits, hidden;
  bool operator==(const Outputs& o) const {
    return same_bits(logits, o.logits) && same_bits(hidden, o.hidden);
  }
};

Outputs run_step(const CpuExecutor& executor, const std::vector<std::int32_t>& history,
                 const std::vector<std::int32_t>& step, const StepOptions& options) {
  const auto state = executor.new_state({64, 8});
  if (!history.empty()) executor.run(*state, history, StepOptions{});
  StepOutput out = executor.run(*state, step, options);
  return {std::move(out.logits), std::move(out.hidden)};
}

struct Case {
  const char* name;
  int history, tokens;
  bool all_logits;
  std::vector<int> taps;
};

// decode (1 token after 5), verify (8 tokens, every row, DFlash-like taps), prefill (13 tokens
// in chunks of 8: a full chunk and a tail, taps of the first and last layer).
std::vector<Case> cases(int layers) {
  return {{"decode", 5, 1, false, {}},
          {"verify", 9, 8, true, {0, layers / 2, layers - 1}},
          {"prefill", 0, 13, false, {0, layers - 1}}};
}

// Orders handed to the executor: for every chunk a fresh random valid order of the program's
// tile tasks (or of its whole ops).
struct RandomOrders {
  std::uint64_t seed;
  bool tiles;
  static std::vector<program::Task> next(const program::StepProgram& p, void* self) {
    auto* orders = static_cast<RandomOrders*>(self);
    const std::vector<program::Task> tasks =
        orders->tiles ? program::tile_tasks(p) : program::op_tasks(p);
    return ordered(tasks, program::random_order(program::dependencies(tasks), orders->seed++));
  }
};

void check_random_orders(const model::ModelConfig& config, const model::ModelWeights& weights,
                         int seeds) {
  CpuExecutor executor(config, weights, 2);
  for (const Case& c : cases(config.num_layers)) {
    StepOptions options;
    options.all_logits = c.all_logits;
    options.hidden_taps = c.taps;
    const auto history = tokens_for(c.history, config.vocab_size, 1);
    const auto step = tokens_for(c.tokens, config.vocab_size, 2);
    executor.set_task_order_for_testing(nullptr, nullptr);
    const Outputs in_order = run_step(executor, history, step, options);
    for (bool tiles : {false, true}) {
      RandomOrders orders{1000, tiles};
      executor.set_task_order_for_testing(&RandomOrders::next, &orders);
      for (int s = 0; s < seeds; ++s) {
        INFO(c.name << (tiles ? ", tiles" : ", ops") << ", order seed " << orders.seed);
        REQUIRE(run_step(executor, history, step, options) == in_order);
      }
    }
    executor.set_task_order_for_testing(nullptr, nullptr);
  }
}

TEST_CASE("random valid op orders give bit-identical outputs on every fixture") {
  for (const char* name : {"tiny-bf16", "tiny-fp8", "tiny-mxfp4", "tiny-hub-fused"}) {
    INFO("fixture " << name);
    const auto l = load_fixture(name);
    check_random_orders(l->config, l->weights, 8);
  }
}

TEST_CASE("random valid op orders give bit-identical outputs on a random model") {
  const auto m = cpu::testing::make_random_model(11);
  check_random_orders(m->config, m->weights, 40);
}

TEST_CASE("the orders really vary") {
  const auto m = cpu::testing::make_random_model(11);
  program::StepShape shape;
  shape.tokens = 8;
  shape.all_logits = true;
  shape.taps = {0, 3};
  const program::StepProgram p = program::build_step_program(m->config, shape);
  const std::vector<program::Task> tasks = program::tile_tasks(p);
  CHECK(tasks.size() > 2 * p.ops.size());
  const program::DependencyGraph g = program::dependencies(tasks);
  std::vector<int> identity(tasks.size());
  for (std::size_t i = 0; i < identity.size(); ++i) identity[i] = static_cast<int>(i);
  REQUIRE(program::respects(g, identity));
  std::set<std::vector<int>> distinct;
  for (std::uint64_t s = 0; s < 20; ++s) {
    const std::vector<int> order = program::random_order(g, s);
    REQUIRE(program::respects(g, order));
    distinct.insert(order);
  }
  // Whole ops form nearly a chain (the residual stream and the shared scratch order the
  // layers); the tiles of a projection are independent of each other.
  CHECK(distinct.size() == 20u);
  CHECK(distinct.count(identity) == 0u);
}

// `tasks` for the chunks of program `target`, program order for every other program (the
// history's prefill).
struct FixedOrder {
  const program::StepProgram* target = nullptr;
  std::vector<program::Task> tasks;
  static std::vector<program::Task> get(const program::StepProgram& p, void* self) {
    auto* fixed = static_cast<FixedOrder*>(self);
    return &p == fixed->target ? fixed->tasks : program::op_tasks(p);
  }
};

TEST_CASE("dropping any one dependency lets an order change the bits") {
  const auto m = cpu::testing::make_random_model(11);
  CpuExecutor executor(m->config, m->weights, 2);
  StepOptions options;
  options.all_logits = true;
  options.hidden_taps = {0, 2, 3};
  const auto history = tokens_for(6, m->config.vocab_size, 1);
  const auto step = tokens_for(4, m->config.vocab_size, 2);
  const Outputs in_order = run_step(executor, history, step, options);
  const program::StepProgram& p =
      executor.program_for(chunk_shape(options, static_cast<int>(step.size()), true));
  const std::vector<program::Task> tasks = program::tile_tasks(p);
  const program::DependencyGraph g = program::dependencies(tasks);
  int edges_checked = 0;
  for (int j = 0; j < static_cast<int>(g.waits_for.size()); ++j) {
    for (int i : g.waits_for[j]) {
      if (implied(g, i, j)) continue;  // dropping it changes nothing
      program::DependencyGraph weakened = g;
      auto& deps = weakened.waits_for[j];
      deps.erase(std::find(deps.begin(), deps.end(), i));
      // An order of the weakened graph that runs j before i: i deferred while anything else
      // is ready (j does not depend on i any more, so j comes first).
      FixedOrder fixed{&p, {}};
      const std::vector<int> order = deferred_order(weakened, i);
      if (program::respects(weakened, order) && !program::respects(g, order)) {
        fixed.tasks = ordered(tasks, order);
      }
      INFO("edge " << program::name(p.ops[tasks[i].op].kind) << " tile " << tasks[i].tile
                   << " (task " << i << ") -> " << program::name(p.ops[tasks[j].op].kind)
                   << " tile " << tasks[j].tile << " (task " << j << ")");
      REQUIRE(!fixed.tasks.empty());
      executor.set_task_order_for_testing(&FixedOrder::get, &fixed);
      CHECK_FALSE(run_step(executor, history, step, options) == in_order);
      executor.set_task_order_for_testing(nullptr, nullptr);
      ++edges_checked;
    }
  }
  CHECK(edges_checked > 3 * m->config.num_layers);
}

TEST_CASE("step programs read like the model and reject shapes they cannot run") {
  const auto m = cpu::testing::make_random_model(11);
  program::StepShape shape;
  shape.tokens = 1;
  const program::StepProgram p = program::build_step_program(m->config, shape);
  std::vector<program::OpKind> kinds;
  for (const program::Op& op : p.ops) kinds.push_back(op.kind);
  using K = program::OpKind;
  // Layer 0 is dense, layers 1-3 MoE.
  const std::vector<K> layer0 = {K::kAddNorm, K::kQkv,     K::kRopeStoreKv, K::kAttention,
                                 K::kOutProj, K::kAddNorm, K::kDenseMlp};
  REQUIRE(kinds.front() == K::kEmbed);
  REQUIRE(std::equal(layer0.begin(), layer0.end(), kinds.begin() + 1));
  CHECK(std::count(kinds.begin(), kinds.end(), K::kExperts) == 3);
  CHECK(std::count(kinds.begin(), kinds.end(), K::kAttention) == 4);
  CHECK(kinds.back() == K::kLmHead);
  CHECK_FALSE(p.ops.back().all_rows);

  const program::StepProgram tp = program::tensor_parallel(p, 2);
  CHECK(std::count_if(tp.ops.begin(), tp.ops.end(),
                      [](auto& o) { return o.kind == K::kAllReduce; }) == 8);
  CHECK(tp.ops.back().kind == K::kAllGather);

  shape.taps = {4};
  CHECK_THROWS_AS(program::build_step_program(m->config, shape), Error);
  shape.taps = {};
  shape.tokens = 0;
  CHECK_THROWS_AS(program::build_step_program(m->config, shape), Error);
  shape.tokens = 2;
  shape.logits = false;
  shape.all_logits = true;
  CHECK_THROWS_AS(program::build_step_program(m->config, shape), Error);
}

}  // namespace
}  // namespace mimo::exec
