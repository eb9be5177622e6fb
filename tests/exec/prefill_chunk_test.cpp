// Large prefill chunks (ModelOptions::prefill_chunk_tokens, exec::StateLimits) on the CPU
// executor over the fixtures of tests/data/models: a 300-token prompt prefilled in chunks of 64,
// 100, 256, 300 and 512 tokens gives exactly the bits of chunks of 16 - the last row's logits,
// every row's hidden taps, and the decode steps and verify block that follow (which read the
// sliding rings the big chunks left). Every chunk edge crosses the fixtures' sliding window of 8
// and wraps the rings (8 + chunk - 1 slots). Plus the chunk bounds themselves: which steps take
// which chunk size, what the rings hold, limits refused naming the field.
#include <string>

#include "exec/cpu_executor.hpp"
#include "exec/step_envelope.hpp"
#include "io/checkpoint.hpp"
#include "mimo/error.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "support/catch.hpp"
#include "support/step_helpers.hpp"

namespace mimo::exec {
namespace {

using mimo::testing::same_bits;
using mimo::testing::tokens_for;

constexpr int kVerifyBlock = 16;  // ModelOptions::max_step_tokens' default

struct Loaded {
  model::ModelConfig config;
  io::Checkpoint checkpoint;
  model::ModelWeights weights;
};

Loaded load(const std::string& name) {
  const std::string dir = std::string(MIMO_TEST_DATA_DIR) + "/models/" + name;
  Loaded l{model::load_model_config(dir), io::Checkpoint::open(dir), {}};
  l.weights = model::bind_weights(l.config, l.checkpoint);
  return l;
}

// What a conversation shows after its prompt: the prompt's last logits and hidden taps (every
// row: the prompt runs with taps of the first, a middle and the last layer), then 6 decode
// steps' logits and a verify block of 5 tokens (all logits).
struct Trace {
  std::vector<float> prompt_logits, prompt_taps, decode_logits, verify_logits;
};

Trace run_conversation(const CpuExecutor& executor, const model::ModelConfig& config,
                       const StateLimits& limits, const std::vector<std::int32_t>& prompt) {
  const auto state = executor.new_state(limits);
  Trace t;
  StepOptions prefill;
  prefill.hidden_taps = {0, config.num_layers / 2, config.num_layers - 1};
  StepOutput out = executor.run(*state, prompt, prefill);
  t.prompt_logits = std::move(out.logits);
  t.prompt_taps = std::move(out.hidden);
  for (int i = 0; i < 6; ++i) {
    const std::int32_t token = (i * 13 + 5) % config.vocab_size;
    out = executor.run(*state, std::span(&token, 1), StepOptions{});
    t.decode_logits.insert(t.decode_logits.end(), out.logits.begin(), out.logits.end());
  }
  StepOptions all;
  all.all_logits = true;
  const std::vector<std::int32_t> block = {3, 1, 4, 1, 5};
  t.verify_logits = executor.run(*state, block, all).logits;
  REQUIRE(state->length() == static_cast<std::int64_t>(prompt.size()) + 11);
  return t;
}

void check_fixture(const std::string& name) {
  const Loaded m = load(name);
  const CpuExecutor executor(m.config, m.weights, 2);
  REQUIRE(m.config.sliding_window == 8);
  const auto prompt = tokens_for(300, m.config.vocab_size, 1);
  const std::int64_t context = 320;
  // Today's geometry: prompts in chunks of the verify block.
  const Trace want = run_conversation(executor, m.config, {context, kVerifyBlock}, prompt);
  REQUIRE(want.prompt_logits.size() == std::size_t(m.config.vocab_size));
  REQUIRE(want.prompt_taps.size() == std::size_t(300) * 3 * m.config.hidden_size);
  for (int chunk : {64, 100, 256, 300, 512}) {
    INFO(name << ", prefill chunks of " << chunk);
    const Trace got = run_conversation(executor, m.config, {context, kVerifyBlock, chunk}, prompt);
    CHECK(same_bits(got.prompt_logits, want.prompt_logits));
    CHECK(same_bits(got.prompt_taps, want.prompt_taps));
    CHECK(same_bits(got.decode_logits, want.decode_logits));
    CHECK(same_bits(got.verify_logits, want.verify_logits));
  }
}

TEST_CASE("prefill in chunks of 64..512 gives the bits of 16-token chunks: tiny-bf16") {
  check_fixture("tiny-bf16");
}
TEST_CASE("prefill in chunks of 64..512 gives the bits of 16-token chunks: tiny-fp8") {
  check_fixture("tiny-fp8");
}
TEST_CASE("prefill in chunks of 64..512 gives the bits of 16-token chunks: tiny-mxfp4") {
  check_fixture("tiny-mxfp4");
}

TEST_CASE("all-logits steps take verify-block chunks, prompts prefill chunks") {
  const Loaded m = load("tiny-mxfp4");
  const CpuExecutor executor(m.config, m.weights, 1);
  const auto state = executor.new_state({400, 16, 256});
  CHECK(state->max_step_tokens() == 16);
  CHECK(state->max_chunk_tokens() == 256);
  StepOptions options;
  CHECK(chunk_tokens(options, *state) == 256);
  options.max_chunk = 100;
  CHECK(chunk_tokens(options, *state) == 100);
  options.max_chunk = 1000;
  CHECK(chunk_tokens(options, *state) == 256);
  options.all_logits = true;
  CHECK(chunk_tokens(options, *state) == 16);
  options.max_chunk = 4;
  CHECK(chunk_tokens(options, *state) == 4);
  // A prefill chunk below the verify block: chunks of the verify block everywhere.
  const auto small = executor.new_state({400, 16, 4});
  CHECK(small->max_chunk_tokens() == 16);
  CHECK(chunk_tokens(StepOptions{}, *small) == 16);
  // No prefill chunk: the verify block (StateLimits' default).
  CHECK(executor.new_state({400, 8})->max_chunk_tokens() == 8);

  // An all-logits run longer than a prefill chunk still returns every row, equal to a state of
  // today's geometry.
  const auto prompt = tokens_for(300, m.config.vocab_size, 1);
  StepOptions all;
  all.all_logits = true;
  const StepOutput big = executor.run(*state, prompt, all);
  const StepOutput reference = executor.run(*executor.new_state({400, 16}), prompt, all);
  CHECK(big.logits.size() == std::size_t(300) * m.config.vocab_size);
  CHECK(same_bits(big.logits, reference.logits));
}

TEST_CASE("rings hold window + max chunk - 1 keys: rewinds of up to a whole chunk are exact") {
  const Loaded m = load("tiny-mxfp4");
  const CpuExecutor executor(m.config, m.weights, 1);
  const auto prompt = tokens_for(300, m.config.vocab_size, 1);
  const auto state = executor.new_state({400, 16, 64});  // rings of 8 + 64 - 1 = 71 slots
  executor.run(*state, prompt, StepOptions{});
  // Position 300 - 64 = 236 needs keys 229..235: still held; 235 needs 228: overwritten.
  CHECK(state->can_truncate(236));
  CHECK_FALSE(state->can_truncate(235));
  const auto verify_sized = executor.new_state({400, 16});  // 8 + 16 - 1 = 23 slots
  executor.run(*verify_sized, prompt, StepOptions{});
  CHECK(verify_sized->can_truncate(284));
  CHECK_FALSE(verify_sized->can_truncate(283));
  // Rewound by 50 and re-run: the same logits as the first time.
  const std::vector<std::int32_t> next = {7, 8, 9};
  const StepOutput first = executor.run(*state->clone(), next, StepOptions{});
  state->truncate(250);
  executor.run(*state, std::span(prompt).subspan(250), StepOptions{});
  const StepOutput again = executor.run(*state, next, StepOptions{});
  CHECK(same_bits(first.logits, again.logits));
}

TEST_CASE("state limits out of range are refused naming the field") {
  const Loaded m = load("tiny-mxfp4");
  const CpuExecutor executor(m.config, m.weights, 1);
  const auto message_of = [&](const StateLimits& limits) -> std::string {
    try {
      executor.new_state(limits);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      return e.what();
    }
    return "accepted";
  };
  const auto names = [&](const StateLimits& limits, const std::string& field) {
    const std::string message = message_of(limits);
    INFO(message);
    return message.find(field) != std::string::npos;
  };
  CHECK(names({0, 16}, "max_context"));
  CHECK(names({64, 0}, "max_step_tokens"));
  CHECK(names({64, 16, -1}, "prefill_chunk_tokens"));
  CHECK(names({64, 16, kMaxChunkTokens + 1}, "prefill_chunk_tokens"));
  CHECK(message_of({64, 16, kMaxChunkTokens}) == "accepted");
}

}  // namespace
}  // namespace mimo::exec
