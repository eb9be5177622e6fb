// The persistent engine as a step runner (cuda/engine/engine_runner.hpp) against the stream
// runner: the ops it runs use the stream kernels' tile functions on the same virtual grids, so
// logits and hidden taps must be bit-identical - for decode, verify and prefill steps, replayed
// graphs and direct launches, on every fixture, on the benchmark geometry (a few layers, keys
// split into segments), and with the engine's queues reshuffled and on fewer blocks (so each
// block's page ring wraps many times); projections through the page ring and without it.
#include "cuda/engine/engine_runner.hpp"

#include <cstdlib>
#include <cstring>

#include "cpu/random_model.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "io/checkpoint.hpp"
#include "mimo/error.hpp"
#include "model/benchmark_config.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "support/catch.hpp"
#include "support/fixtures.hpp"
#include "support/step_helpers.hpp"

namespace mimo {
namespace {

using testing::same_bits;
using testing::tokens_for;

using testing::fixture_dir;

struct Case {
  const char* name;
  int history, tokens;
  bool all_logits;
  bool graphs;
};

// Runs each case on a fresh state with the stream runner and with the engine; the outputs must
// be bit-identical. Returns how many ops the engine ran in the verify case (to show it ran).
int check_engine_matches_stream(cuda::GpuExecutor& gpu, const model::ModelConfig& config,
                                int context) {
  const int layers = config.num_layers;
  const std::vector<Case> cases = {{"decode", context, 1, false, true},
                                   {"verify", context, 8, true, true},
                                   {"verify, direct launches", context, 8, true, false},
                                   {"prefill", 0, 13, false, false}};
  int engine_ops = 0;
  for (const Case& c : cases) {
    exec::StepOptions options;
    options.all_logits = c.all_logits;
    options.hidden_taps = {0, layers / 2, layers - 1};
    const auto history = tokens_for(c.history, config.vocab_size, 1);
    const auto step = tokens_for(c.tokens, config.vocab_size, 2);
    const auto run = [&](bool engine, bool paged = false) {
      gpu.set_engine(engine);
      if (engine) gpu.engine_runner()->set_paging(paged);
      gpu.set_use_graphs(c.graphs);
      const auto state = gpu.new_state({context + 64, 8});
      if (!history.empty()) gpu.run(*state, history, exec::StepOptions{});
      exec::StepOutput first = gpu.run(*state, step, options);
      if (engine && c.tokens == 8 && c.graphs) {
        program::StepShape shape;
        shape.tokens = 8;
        shape.all_logits = true;
        shape.taps = options.hidden_taps;
        engine_ops = gpu.engine_runner()
                         ->coverage(program::build_step_program(config, shape),
                                    dynamic_cast<cuda::GpuState&>(*state))
                         .engine_ops;
      }
      // A second step on the same state replays the captured graph (epochs advance).
      state->truncate(state->length() - c.tokens);
      exec::StepOutput second = gpu.run(*state, step, options);
      REQUIRE(same_bits(first.logits, second.logits));
      return first;
    };
    const exec::StepOutput stream = run(false);
    const exec::StepOutput engine = run(true);
    const exec::StepOutput paged = run(true, true);
    INFO(c.name);
    CHECK(same_bits(engine.logits, stream.logits));
    CHECK(same_bits(engine.hidden, stream.hidden));
    CHECK(same_bits(paged.logits, stream.logits));
    CHECK(same_bits(paged.hidden, stream.hidden));
  }
  gpu.set_engine(false);
  gpu.set_use_graphs(true);
  return engine_ops;
}

TEST_CASE("engine runner: bit-identical to the stream runner on every fixture") {
  for (const char* name : {"tiny-bf16", "tiny-fp8", "tiny-mxfp4", "tiny-hub-fused"}) {
    INFO("fixture " << name);
    const std::string dir = fixture_dir(name);
    const model::ModelConfig config = model::load_model_config(dir);
    const io::Checkpoint checkpoint = io::Checkpoint::open(dir);
    const model::ModelWeights weights = model::bind_weights(config, checkpoint);
    cuda::GpuExecutor gpu(config, cuda::upload_model(config, weights));
    const int engine_ops = check_engine_matches_stream(gpu, config, 40);
    CHECK(engine_ops >= 2);  // at least RoPE + attention of some layer
  }
}

TEST_CASE("engine runner: the benchmark geometry, reshuffled queues and fewer blocks") {
  const model::ModelConfig config = model::benchmark_config(4, 64);
  cuda::GpuExecutor gpu(config, cuda::synthetic_model(config, 77));
  // Keys split into segments (context > 32) and every attention-half op on the engine.
  const int engine_ops = check_engine_matches_stream(gpu, config, 300);
  CHECK(engine_ops >= 4 * 6);
  gpu.set_engine(true);
  cuda::engine::EngineRunner& engine = *gpu.engine_runner();
  const int resident = engine.queues();
  gpu.set_engine(false);
  for (const auto& [queues, shuffle] :
       std::vector<std::pair<int, std::uint64_t>>{{resident, 3}, {7, 0}, {33, 11}}) {
    if (queues > resident) continue;
    INFO(queues << " blocks, shuffle " << shuffle);
    exec::StepOptions options;
    options.all_logits = true;
    const auto history = tokens_for(300, config.vocab_size, 1);
    const auto step = tokens_for(8, config.vocab_size, 2);
    const auto run = [&](bool on, bool paged) {
      gpu.set_engine(on);
      if (on) {
        gpu.engine_runner()->set_plan_for_testing(queues, shuffle);
        gpu.engine_runner()->set_paging(paged);
      }
      const auto state = gpu.new_state({400, 8});
      gpu.run(*state, history, exec::StepOptions{});
      return gpu.run(*state, step, options);
    };
    const exec::StepOutput stream = run(false, false);
    CHECK(same_bits(run(true, false).logits, stream.logits));
    CHECK(same_bits(run(true, true).logits, stream.logits));
    gpu.set_engine(false);
  }
}

}  // namespace
}  // namespace mimo
