// The CPU executor (the step program interpreter) on a random in-memory model: one-shot
// prefill, token-by-token decode, chunking, rewinds and thread counts must agree bit for bit
// (every output element is one fixed-order computation whatever the batch); taps, cancellation
// and input errors.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "cpu/linear.hpp"
#include "cpu/random_model.hpp"
#include "cpu/thread_pool.hpp"
#include "exec/cpu_executor.hpp"
#include "mimo/error.hpp"
#include "support/catch.hpp"

namespace mimo::exec {
namespace {

namespace testing = cpu::testing;

std::vector<std::int32_t> random_tokens(std::size_t n, std::uint64_t seed, int vocab) {
  testing::Rng rng(seed);
  std::vector<std::int32_t> t(n);
  for (auto& id : t) id = static_cast<std::int32_t>(rng() % vocab);
  return t;
}

bool same_bits(const float* a, const float* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

// Logits of every token, fed `step` tokens per call into a state of the given step size.
std::vector<float> run_in_steps(const CpuExecutor& executor,
                                const std::vector<std::int32_t>& tokens, int step, int state_step,
                                int max_chunk = 0) {
  const auto state = executor.new_state({64, state_step});
  std::vector<float> logits;
  StepOptions options;
  options.all_logits = true;
  options.max_chunk = max_chunk;
  for (std::size_t i = 0; i < tokens.size(); i += step) {
    const std::size_t n = std::min<std::size_t>(step, tokens.size() - i);
    const StepOutput out = executor.run(*state, std::span(tokens).subspan(i, n), options);
    logits.insert(logits.end(), out.logits.begin(), out.logits.end());
  }
  REQUIRE(state->length() == static_cast<std::int64_t>(tokens.size()));
  return logits;
}

TEST_CASE("decode, prefill, chunked prefill and cache geometries agree exactly") {
  auto m = testing::make_random_model(7);
  CpuExecutor executor(m->config, m->weights, 2);
  const auto tokens = random_tokens(19, 1, m->config.vocab_size);  // > window + ring slots
  const std::vector<float> prefill = run_in_steps(executor, tokens, 19, 19);
  REQUIRE(prefill.size() == 19u * 97u);
  for (float v : prefill) REQUIRE(std::isfinite(v));
  REQUIRE(run_in_steps(executor, tokens, 1, 1) == prefill);       // token by token, 4-slot ring
  REQUIRE(run_in_steps(executor, tokens, 19, 3) == prefill);      // chunks of 3, 6-slot ring
  REQUIRE(run_in_steps(executor, tokens, 19, 19, 5) == prefill);  // max_chunk 5
  REQUIRE(run_in_steps(executor, tokens, 4, 4) == prefill);       // verify-sized steps
  // Last-token-only logits are the last row.
  const auto state = executor.new_state({64, 8});
  const StepOutput last = executor.run(*state, tokens, StepOptions{});
  REQUIRE(last.logits.size() == 97u);
  REQUIRE(same_bits(last.logits.data(), prefill.data() + 18 * 97, 97));
}

TEST_CASE("results do not depend on the thread count") {
  auto m = testing::make_random_model(8);
  const auto tokens = random_tokens(11, 2, m->config.vocab_size);
  CpuExecutor e1(m->config, m->weights, 1), e3(m->config, m->weights, 3);
  REQUIRE(run_in_steps(e1, tokens, 11, 11) == run_in_steps(e3, tokens, 11, 11));
}

TEST_CASE("truncate then re-run reproduces the original logits") {
  auto m = testing::make_random_model(9);
  CpuExecutor executor(m->config, m->weights, 2);
  const auto tokens = random_tokens(16, 3, m->config.vocab_size);
  const std::vector<float> reference = run_in_steps(executor, tokens, 16, 16);
  StepOptions all;
  all.all_logits = true;
  const auto state = executor.new_state({64, 4});
  executor.run(*state, tokens, all);
  // Reject a 4-token verify block (max_step_tokens back: always exact), re-run it.
  state->truncate(12);
  StepOutput again = executor.run(*state, std::span(tokens).subspan(12), all);
  REQUIRE(same_bits(again.logits.data(), reference.data() + 12 * 97, 4 * 97));
  // Rewind 2, continue with different tokens: same as a fresh state given that history.
  state->truncate(14);
  const std::vector<std::int32_t> other = {5, 6, 7};
  const StepOutput branched = executor.run(*state, other, all);
  std::vector<std::int32_t> history(tokens.begin(), tokens.begin() + 14);
  history.insert(history.end(), other.begin(), other.end());
  const std::vector<float> fresh = run_in_steps(executor, history, 17, 17);
  REQUIRE(same_bits(branched.logits.data(), fresh.data() + 14 * 97, 3 * 97));
  // Further back than the sliding rings allow is refused, leaving the state usable.
  REQUIRE_THROWS_AS(state->truncate(5), Error);
  REQUIRE(state->length() == 17);
}

TEST_CASE("hidden taps return layer outputs, and the last layer's is after the final norm") {
  auto m = testing::make_random_model(10);
  CpuExecutor executor(m->config, m->weights, 2);
  const auto tokens = random_tokens(9, 4, m->config.vocab_size);
  StepOptions options;
  options.all_logits = true;
  options.hidden_taps = {3, 1};
  const auto state = executor.new_state({64, 9});
  const StepOutput out = executor.run(*state, tokens, options);
  const std::int64_t h = m->config.hidden_size;
  REQUIRE(out.hidden.size() == static_cast<std::size_t>(9 * 2 * h));
  // lm_head applied to the last-layer tap gives the logits exactly.
  std::vector<float> normed(9 * h), logits(9 * 97);
  for (int t = 0; t < 9; ++t)
    std::copy_n(out.hidden.data() + (t * 2 + 0) * h, h, normed.data() + t * h);
  cpu::ThreadPool pool(2);
  cpu::linear(pool, m->weights.lm_head, normed.data(), 9, logits.data());
  REQUIRE(logits == out.logits);
  // Taps from token-by-token decoding match the one-shot ones.
  const auto step_state = executor.new_state({64, 1});
  for (int t = 0; t < 9; ++t) {
    const StepOutput s = executor.run(*step_state, std::span(tokens).subspan(t, 1), options);
    REQUIRE(same_bits(s.hidden.data(), out.hidden.data() + t * 2 * h, 2 * h));
  }
  // A middle-layer tap differs from the final one (it is the raw residual stream).
  REQUIRE_FALSE(same_bits(out.hidden.data(), out.hidden.data() + h, h));
}

TEST_CASE("bad inputs are rejected before the state changes, and cancellation leaves it intact") {
  auto m = testing::make_random_model(11);
  CpuExecutor executor(m->config, m->weights, 2);
  const auto tokens = random_tokens(10, 5, m->config.vocab_size);
  const auto state = executor.new_state({12, 4});
  executor.run(*state, std::span(tokens).subspan(0, 6), StepOptions{});
  const auto code_of = [&](std::vector<std::int32_t> input, StepOptions options = {}) {
    try {
      executor.run(*state, input, options);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  REQUIRE(code_of({1, 97}) == ErrorCode::kInvalidArgument);
  REQUIRE(code_of({-1}) == ErrorCode::kInvalidArgument);
  REQUIRE(code_of({}) == ErrorCode::kInvalidArgument);
  REQUIRE(code_of(std::vector<std::int32_t>(7, 1)) == ErrorCode::kOutOfRange);
  StepOptions bad_tap;
  bad_tap.hidden_taps = {4};
  REQUIRE(code_of({1}, bad_tap) == ErrorCode::kInvalidArgument);
  std::atomic<bool> cancel{true};
  StepOptions cancelled;
  cancelled.cancel = &cancel;
  REQUIRE(code_of({1, 2, 3, 4, 5, 6}, cancelled) == ErrorCode::kCancelled);
  REQUIRE(state->length() == 6);
  // The state still continues exactly as an uninterrupted one.
  StepOptions all;
  all.all_logits = true;
  const StepOutput rest = executor.run(*state, std::span(tokens).subspan(6), all);
  const std::vector<float> reference = run_in_steps(executor, tokens, 10, 10);
  REQUIRE(same_bits(rest.logits.data(), reference.data() + 6 * 97, 4 * 97));
}

}  // namespace
}  // namespace mimo::exec
