// The CPU executor (the step program interpreter) against transformers' own outputs
// (tests/data/models/*, made by tools/reference/make_fixtures.py in float32, eager attention):
// logits of every reference sequence, per-layer hidden states and the greedy continuation.
//
// Tolerance: relative L2 <= 1e-5 and max-abs <= 1e-4 on logits and hidden states. Both sides
// compute in float32 from the same stored weights, so the only differences are summation order
// and libm rounding (~1e-7 relative per op, growing mildly through the layers); an error in
// any op (a wrong mask, rope pair, scale or routing choice) is orders of magnitude larger.
#include <algorithm>
#include <fstream>

#include "cpu/npy_reader.hpp"
#include "exec/cpu_executor.hpp"
#include "support/catch.hpp"
#include "support/fixtures.hpp"

namespace mimo::exec {
namespace {

constexpr double kMaxRelativeL2 = 1e-5;
constexpr double kMaxAbs = 1e-4;

using testing::fixture_dir;
using testing::read_tokens;

void check_close(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
  const testing::Deviation d = testing::deviation(got, want);
  INFO(what << ": relative L2 " << d.relative_l2 << ", max abs " << d.max_abs);
  CHECK(d.relative_l2 <= kMaxRelativeL2);
  CHECK(d.max_abs <= kMaxAbs);
}

// `reference_of`: the fixture whose reference/ applies (tiny-hub-fused re-stores tiny-bf16).
void check_fixture(const std::string& name, const std::string& reference_of) {
  const std::string dir = fixture_dir(name);
  const auto m = testing::load_fixture(dir);
  CpuExecutor executor(m->config, m->weights, 2);
  const std::string ref = fixture_dir(reference_of) + "/reference/";
  int sequences = 0;
  for (int n = 1; std::ifstream(ref + "tokens_" + std::to_string(n) + ".txt").good(); ++n) {
    const auto tokens = read_tokens(ref + "tokens_" + std::to_string(n) + ".txt");
    const auto want = cpu::testing::read_npy_f32(ref + "logits_" + std::to_string(n) + ".npy");
    REQUIRE(want.shape ==
            std::vector<std::int64_t>{std::int64_t(tokens.size()), m->config.vocab_size});
    // Prefill in chunks of 8, so sequences longer than the window cross chunk and ring edges.
    const auto state = executor.new_state({static_cast<std::int64_t>(tokens.size()), 8});
    StepOptions options;
    options.all_logits = true;
    if (n == 1) {
      for (int l = 0; l < m->config.num_layers; ++l) options.hidden_taps.push_back(l);
    }
    const StepOutput out = executor.run(*state, tokens, options);
    check_close(out.logits, want.data, name + " logits_" + std::to_string(n));
    if (n == 1 && std::ifstream(ref + "hidden_1.npy").good()) {
      // hidden_1: [layers + 1, T, hidden]; entry l + 1 is layer l's output (the last normed).
      const auto hs = cpu::testing::read_npy_f32(ref + "hidden_1.npy");
      const std::int64_t layers = m->config.num_layers, t_len = tokens.size(),
                         h = m->config.hidden_size;
      REQUIRE(hs.shape == std::vector<std::int64_t>{layers + 1, t_len, h});
      for (std::int64_t l = 0; l < layers; ++l) {
        std::vector<float> got(t_len * h),
            want_l(hs.data.begin() + (l + 1) * t_len * h, hs.data.begin() + (l + 2) * t_len * h);
        for (std::int64_t t = 0; t < t_len; ++t) {
          std::copy_n(out.hidden.data() + (t * layers + l) * h, h, got.data() + t * h);
        }
        check_close(got, want_l, name + " hidden layer " + std::to_string(l));
      }
    }
    ++sequences;
  }
  REQUIRE(sequences > 0);
  // Greedy continuation: prefill the prompt, then one token per step.
  const auto prompt = read_tokens(ref + "greedy_prompt.txt");
  const auto expected = read_tokens(ref + "greedy_output.txt");
  const auto state =
      executor.new_state({static_cast<std::int64_t>(prompt.size() + expected.size()), 4});
  StepOutput out = executor.run(*state, prompt, StepOptions{});
  std::vector<std::int32_t> generated;
  while (generated.size() < expected.size()) {
    const auto best = std::max_element(out.logits.begin(), out.logits.end());
    generated.push_back(static_cast<std::int32_t>(best - out.logits.begin()));
    if (generated.size() < expected.size()) {
      out = executor.run(*state, std::span(&generated.back(), 1), StepOptions{});
    }
  }
  REQUIRE(generated == expected);
}

TEST_CASE("fixture tiny-bf16 matches transformers") {
  check_fixture("tiny-bf16", "tiny-bf16");
}
TEST_CASE("fixture tiny-fp8 matches transformers") {
  check_fixture("tiny-fp8", "tiny-fp8");
}
TEST_CASE("fixture tiny-mxfp4 matches transformers") {
  check_fixture("tiny-mxfp4", "tiny-mxfp4");
}
// int(64 * 0.334) = 21: transformers rotates 22 dims with 11 frequencies over 21.
TEST_CASE("fixture tiny-odd-rope (an odd rotary dim) matches transformers") {
  check_fixture("tiny-odd-rope", "tiny-odd-rope");
}
TEST_CASE("fixture tiny-hub-fused (hub schema, fused qkv, shards) matches tiny-bf16's reference") {
  check_fixture("tiny-hub-fused", "tiny-bf16");
}

}  // namespace
}  // namespace mimo::exec
