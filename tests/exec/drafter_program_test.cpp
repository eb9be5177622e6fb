// The DFlash drafter's programs (program/drafter_program.hpp) read like the drafter, and their
// dependency graphs are complete: the CPU interpreter running a context pass, a block pass or
// both in many random orders of their ops or tiles gives the block's hidden states, the draft
// logits, the drafts and the context cache bit-identical to program order, for the fixture and
// the demo drafters; and with any one non-redundant edge dropped, an order that violates it
// changes the bits.
#include "program/drafter_program.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include "api/model_impl.hpp"
#include "mimo/error.hpp"
#include "program/dependencies.hpp"
#include "spec/dflash_drafter.hpp"
#include "spec/dflash_speculator.hpp"
#include "support/catch.hpp"
#include "support/dependency_orders.hpp"
#include "support/step_helpers.hpp"

namespace mimo::exec {
namespace {

using program::DrafterShape;
using testing::same_bits;

std::shared_ptr<const Model> load_model(const std::string& dir) {
  ModelOptions options;
  options.device = Device::kCpu;
  options.num_threads = 2;
  options.max_context = 256;
  options.max_step_tokens = 8;
  return Model::load(dir, options);
}

// A drafter bound for the CPU interpreter, with a context cache holding 10 rows already.
struct Drafter {
  Drafter(const std::string& model_dir, const std::string& drafter_dir)
      : model(load_model(model_dir)),
        speculator(make_dflash_speculator(*model, drafter_dir)),
        dflash(dynamic_cast<spec::DFlashSpeculator&>(*speculator)),
        cpu(spec::bind_cpu_drafter(dflash.config(), dflash.weights(), model->impl().weights)),
        runner(cpu, pool),
        history(cpu.config.num_layers, cpu.config.num_kv_heads, cpu.config.head_dim,
                cpu.config.v_head_dim) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    features.resize(std::size_t(64) * cpu.fc->cols);
    for (float& f : features) f = u(rng);
    program::DrafterShape shape;
    shape.context = 10;
    CpuDrafterBuffers b;
    run(shape, history, nullptr, b);
  }

  program::DrafterProgram program(const DrafterShape& shape) const {
    return program::build_drafter_program(cpu.config, cpu.lm_head->rows, shape);
  }

  // Runs `shape` (context rows at positions 10 ..., the block anchored after them) on `cache`
  // in program order or in the order of `tasks`; the outputs and the cache after.
  struct Outputs {
    std::vector<float> hidden, logits, keys, values;
    std::vector<std::int32_t> drafts;
    bool operator==(const Outputs& o) const {
      return same_bits(hidden, o.hidden) && same_bits(logits, o.logits) &&
             same_bits(keys, o.keys) && same_bits(values, o.values) && drafts == o.drafts;
    }
  };
  // `stale`: the buffers start with another run's sizes and a poison value everywhere (as
  // buffers reused across runs would), so that a read before its write shows.
  Outputs run(const DrafterShape& shape, cpu::ContextCache& cache,
              const std::vector<program::Task>* tasks, bool stale = false) {
    CpuDrafterBuffers b;
    if (stale) {
      cpu::ContextCache scratch = cache;
      run(shape, scratch, nullptr, b);
      for (auto* v : {&b.context, &b.x, &b.h, &b.delta, &b.q, &b.k, &b.v, &b.heads, &b.logits}) {
        std::fill(v->begin(), v->end(), 1e3f);
      }
      std::fill(b.drafts.begin(), b.drafts.end(), -1);
    }
    run(shape, cache, tasks, b);
    Outputs out{b.h, b.logits, {}, {}, b.drafts};
    const std::int64_t kw = std::int64_t{cpu.config.num_kv_heads} * cpu.config.head_dim;
    const std::int64_t vw = std::int64_t{cpu.config.num_kv_heads} * cpu.config.v_head_dim;
    for (int l = 0; l < cpu.config.num_layers; ++l) {
      const cpu::ContextView v = cache.view(l);
      out.keys.insert(out.keys.end(), v.keys, v.keys + v.rows * kw);
      out.values.insert(out.values.end(), v.values, v.values + v.rows * vw);
    }
    return out;
  }
  void run(const DrafterShape& shape, cpu::ContextCache& cache,
           const std::vector<program::Task>* tasks, CpuDrafterBuffers& b) {
    DrafterIo io;
    io.first_position = cache.rows();
    io.features = features.data() + io.first_position * cpu.fc->cols;
    io.anchor = 5;
    io.anchor_position = cache.rows() + shape.context;
    runner.run(program(shape), cache, b, io, tasks);
  }
  Outputs run_on_copy(const DrafterShape& shape, const std::vector<program::Task>* tasks,
                      bool stale = false) {
    cpu::ContextCache cache = history;
    return run(shape, cache, tasks, stale);
  }

  std::shared_ptr<const Model> model;
  std::shared_ptr<Speculator> speculator;
  spec::DFlashSpeculator& dflash;
  CpuDrafterModel cpu;
  cpu::ThreadPool pool{2};
  CpuDrafterRunner runner;
  cpu::ContextCache history;
  std::vector<float> features;
};

DrafterShape shape_of(int context, int block, int draft_rows, bool argmax) {
  DrafterShape s;
  s.context = context;
  s.block = block;
  s.draft_rows = draft_rows;
  s.argmax = argmax;
  return s;
}

void check_random_orders(Drafter& d, int seeds) {
  const int b = d.dflash.max_draft() + 1;
  for (const DrafterShape& shape :
       {shape_of(5, 0, 0, false), shape_of(0, b, 0, false), shape_of(0, b, b - 1, true),
        shape_of(3, b, b - 1, true), shape_of(1, b, 1, false)}) {
    INFO("context " << shape.context << ", block " << shape.block << ", draft rows "
                    << shape.draft_rows << (shape.argmax ? ", argmax" : ""));
    const Drafter::Outputs in_order = d.run_on_copy(shape, nullptr);
    const program::DrafterProgram p = d.program(shape);
    for (bool tiles : {false, true}) {
      const std::vector<program::Task> tasks =
          tiles ? program::tile_tasks(p) : program::op_tasks(p);
      const program::DependencyGraph g = program::dependencies(tasks);
      for (int s = 0; s < seeds; ++s) {
        INFO((tiles ? "tiles" : "ops") << ", order seed " << s);
        const std::vector<program::Task> order =
            testing::ordered(tasks, program::random_order(g, 1000 + s));
        REQUIRE(order.size() == tasks.size());
        REQUIRE(d.run_on_copy(shape, &order, s % 2 == 1) == in_order);
      }
    }
  }
}

TEST_CASE("random valid orders of drafter programs give bit-identical outputs") {
  SECTION("the fixture drafter") {
    Drafter d(std::string(MIMO_TEST_DATA_DIR) + "/models/tiny-bf16",
              std::string(MIMO_TEST_DATA_DIR) + "/dflash/drafter");
    check_random_orders(d, 12);
  }
  SECTION("the demo drafter") {
    Drafter d(std::string(MIMO_SOURCE_DIR) + "/models/demo/mixed",
              std::string(MIMO_SOURCE_DIR) + "/models/demo/drafter");
    check_random_orders(d, 4);
  }
}

TEST_CASE("dropping any one drafter program dependency lets an order change the bits") {
  Drafter d(std::string(MIMO_TEST_DATA_DIR) + "/models/tiny-bf16",
            std::string(MIMO_TEST_DATA_DIR) + "/dflash/drafter");
  const DrafterShape shape = shape_of(2, 4, 3, true);
  const Drafter::Outputs in_order = d.run_on_copy(shape, nullptr);
  const program::DrafterProgram p = d.program(shape);
  const std::vector<program::Task> tasks = program::tile_tasks(p);
  const program::DependencyGraph g = program::dependencies(tasks);
  int edges_checked = 0;
  for (int j = 0; j < static_cast<int>(g.waits_for.size()); ++j) {
    for (int i : g.waits_for[j]) {
      if (testing::implied(g, i, j)) continue;  // dropping it changes nothing
      program::DependencyGraph weakened = g;
      auto& deps = weakened.waits_for[j];
      deps.erase(std::find(deps.begin(), deps.end(), i));
      const std::vector<int> order = testing::deferred_order(weakened, i);
      INFO("edge " << program::name(p.ops[tasks[i].op].kind) << " tile " << tasks[i].tile
                   << " (task " << i << ") -> " << program::name(p.ops[tasks[j].op].kind)
                   << " tile " << tasks[j].tile << " (task " << j << ")");
      REQUIRE(program::respects(weakened, order));
      REQUIRE_FALSE(program::respects(g, order));
      const std::vector<program::Task> violating = testing::ordered(tasks, order);
      CHECK_FALSE(d.run_on_copy(shape, &violating, true) == in_order);
      ++edges_checked;
    }
  }
  CHECK(edges_checked > 10 * d.cpu.config.num_layers);
}

TEST_CASE("drafter programs read like the drafter and reject shapes they cannot run") {
  Drafter d(std::string(MIMO_TEST_DATA_DIR) + "/models/tiny-bf16",
            std::string(MIMO_TEST_DATA_DIR) + "/dflash/drafter");
  using K = program::OpKind;
  const program::DrafterProgram p = d.program(shape_of(3, 4, 3, true));
  std::vector<K> kinds;
  for (const program::Op& op : p.ops) kinds.push_back(op.kind);
  const std::vector<K> context = {K::kContextFc,    K::kContextNorm, K::kContextKv,
                                  K::kStoreContext, K::kContextKv,   K::kStoreContext};
  const std::vector<K> layer0 = {K::kBlockEmbed,     K::kAddNorm, K::kQkv,     K::kQkNormRope,
                                 K::kBlockAttention, K::kOutProj, K::kAddNorm, K::kDenseMlp};
  REQUIRE(kinds.size() == context.size() + layer0.size() + 7 + 3);
  CHECK(std::equal(context.begin(), context.end(), kinds.begin()));
  CHECK(std::equal(layer0.begin(), layer0.end(), kinds.begin() + context.size()));
  CHECK(kinds[kinds.size() - 3] == K::kAddNorm);
  CHECK(kinds[kinds.size() - 2] == K::kDraftLogits);
  CHECK(kinds.back() == K::kArgmax);
  // The block attends to the context cache the context pass stored.
  const program::Op& attention = p.ops[context.size() + 4];
  CHECK(std::count(attention.reads.begin(), attention.reads.end(),
                   program::Access{program::Buffer::kKvCache, 0}) == 1);
  CHECK(program::describe(p.ops).find("block_attention") != std::string::npos);

  CHECK_THROWS_AS(d.program(shape_of(0, 0, 0, false)), Error);
  CHECK_THROWS_AS(d.program(shape_of(0, 1, 0, false)), Error);
  CHECK_THROWS_AS(d.program(shape_of(0, 4, 4, false)), Error);
  CHECK_THROWS_AS(d.program(shape_of(0, 4, 0, true)), Error);
  CHECK_THROWS_AS(d.program(shape_of(-1, 4, 0, false)), Error);

  // The drafter interpreter refuses the target's ops.
  cpu::ContextCache cache = d.history;
  CpuDrafterBuffers b;
  DrafterIo io;
  io.anchor_position = 10;
  program::DrafterProgram bad = d.program(shape_of(0, 4, 0, false));
  bad.ops.front().kind = K::kEmbed;
  CHECK_THROWS_AS(d.runner.run(bad, cache, b, io), Error);
  // Context rows need features, and positions after the cached ones.
  CHECK_THROWS_AS(d.runner.run(d.program(shape_of(2, 0, 0, false)), cache, b, io), Error);
  io.features = d.features.data();
  io.first_position = 9;
  CHECK_THROWS_AS(d.runner.run(d.program(shape_of(2, 0, 0, false)), cache, b, io), Error);
  CHECK(cache.rows() == 10);
}

}  // namespace
}  // namespace mimo::exec
