// Forward on a random in-memory model: one-shot prefill, token-by-token decode, chunking,
// rewinds and thread counts must agree bit for bit (every output element is one fixed-order
// computation whatever the batch); taps, cancellation and input errors.
#include "cpu/forward.hpp"

#include <atomic>
#include <cstring>

#include "cpu/linear.hpp"
#include "mimo/error.hpp"
#include "random_model.hpp"
#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

std::vector<std::int32_t> random_tokens(std::size_t n, std::uint64_t seed, int vocab) {
  testing::Rng rng(seed);
  std::vector<std::int32_t> t(n);
  for (auto& id : t) id = static_cast<std::int32_t>(rng() % vocab);
  return t;
}

bool same_bits(const float* a, const float* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

// Logits of every token, fed `step` tokens per call into a cache of the given step size.
std::vector<float> run_in_steps(Forward& fwd, const std::vector<std::int32_t>& tokens, int step,
                                int cache_step, int max_chunk = 0) {
  KvCache cache(fwd.config(), 64, cache_step);
  std::vector<float> logits;
  ForwardOptions options;
  options.all_logits = true;
  options.max_chunk = max_chunk;
  for (std::size_t i = 0; i < tokens.size(); i += step) {
    const std::size_t n = std::min<std::size_t>(step, tokens.size() - i);
    const ForwardOutput out = fwd.run(cache, std::span(tokens).subspan(i, n), options);
    logits.insert(logits.end(), out.logits.begin(), out.logits.end());
  }
  REQUIRE(cache.length() == static_cast<std::int64_t>(tokens.size()));
  return logits;
}

TEST_CASE("decode, prefill, chunked prefill and cache geometries agree exactly") {
  auto m = testing::make_random_model(7);
  ThreadPool pool(2);
  Forward fwd(m->config, m->weights, pool);
  const auto tokens = random_tokens(19, 1, m->config.vocab_size);  // > window + ring slots
  const std::vector<float> prefill = run_in_steps(fwd, tokens, 19, 19);
  REQUIRE(prefill.size() == 19u * 97u);
  for (float v : prefill) REQUIRE(std::isfinite(v));
  REQUIRE(run_in_steps(fwd, tokens, 1, 1) == prefill);       // token by token, 4-slot ring
  REQUIRE(run_in_steps(fwd, tokens, 19, 3) == prefill);      // chunks of 3, 6-slot ring
  REQUIRE(run_in_steps(fwd, tokens, 19, 19, 5) == prefill);  // max_chunk 5
  REQUIRE(run_in_steps(fwd, tokens, 4, 4) == prefill);       // verify-sized steps
  // Last-token-only logits are the last row.
  KvCache cache(m->config, 64, 8);
  const ForwardOutput last = fwd.run(cache, tokens, ForwardOptions{});
  REQUIRE(last.logits.size() == 97u);
  REQUIRE(same_bits(last.logits.data(), prefill.data() + 18 * 97, 97));
}

TEST_CASE("results do not depend on the thread count") {
  auto m = testing::make_random_model(8);
  const auto tokens = random_tokens(11, 2, m->config.vocab_size);
  ThreadPool one(1), three(3);
  Forward f1(m->config, m->weights, one), f3(m->config, m->weights, three);
  REQUIRE(run_in_steps(f1, tokens, 11, 11) == run_in_steps(f3, tokens, 11, 11));
}

TEST_CASE("truncate then re-run reproduces the original logits") {
  auto m = testing::make_random_model(9);
  ThreadPool pool(2);
  Forward fwd(m->config, m->weights, pool);
  const auto tokens = random_tokens(16, 3, m->config.vocab_size);
  const std::vector<float> reference = run_in_steps(fwd, tokens, 16, 16);
  ForwardOptions all;
  all.all_logits = true;
  KvCache cache(m->config, 64, 4);
  fwd.run(cache, tokens, all);
  // Reject a 4-token verify block (max_step_tokens back: always exact), re-run it.
  cache.truncate(12);
  ForwardOutput again = fwd.run(cache, std::span(tokens).subspan(12), all);
  REQUIRE(same_bits(again.logits.data(), reference.data() + 12 * 97, 4 * 97));
  // Rewind 2, continue with different tokens: same as a fresh cache given that history.
  cache.truncate(14);
  const std::vector<std::int32_t> other = {5, 6, 7};
  const ForwardOutput branched = fwd.run(cache, other, all);
  std::vector<std::int32_t> history(tokens.begin(), tokens.begin() + 14);
  history.insert(history.end(), other.begin(), other.end());
  const std::vector<float> fresh = run_in_steps(fwd, history, 17, 17);
  REQUIRE(same_bits(branched.logits.data(), fresh.data() + 14 * 97, 3 * 97));
  // Further back than the sliding rings allow is refused, leaving the cache usable.
  REQUIRE_THROWS_AS(cache.truncate(5), Error);
  REQUIRE(cache.length() == 17);
}

TEST_CASE("hidden taps return layer outputs; the last layer's is after the final norm") {
  auto m = testing::make_random_model(10);
  ThreadPool pool(2);
  Forward fwd(m->config, m->weights, pool);
  const auto tokens = random_tokens(9, 4, m->config.vocab_size);
  ForwardOptions options;
  options.all_logits = true;
  options.hidden_taps = {3, 1};
  KvCache cache(m->config, 64, 9);
  const ForwardOutput out = fwd.run(cache, tokens, options);
  const std::int64_t h = m->config.hidden_size;
  REQUIRE(out.hidden.size() == static_cast<std::size_t>(9 * 2 * h));
  // lm_head applied to the last-layer tap gives the logits exactly.
  std::vector<float> normed(9 * h), logits(9 * 97);
  for (int t = 0; t < 9; ++t)
    std::copy_n(out.hidden.data() + (t * 2 + 0) * h, h, normed.data() + t * h);
  linear(pool, m->weights.lm_head, normed.data(), 9, logits.data());
  REQUIRE(logits == out.logits);
  // Taps from token-by-token decoding match the one-shot ones.
  KvCache step_cache(m->config, 64, 1);
  for (int t = 0; t < 9; ++t) {
    const ForwardOutput s = fwd.run(step_cache, std::span(tokens).subspan(t, 1), options);
    REQUIRE(same_bits(s.hidden.data(), out.hidden.data() + t * 2 * h, 2 * h));
  }
  // A middle-layer tap differs from the final one (it is the raw residual stream).
  REQUIRE_FALSE(same_bits(out.hidden.data(), out.hidden.data() + h, h));
}

TEST_CASE("bad inputs are rejected before the cache changes; cancellation leaves it intact") {
  auto m = testing::make_random_model(11);
  ThreadPool pool(2);
  Forward fwd(m->config, m->weights, pool);
  const auto tokens = random_tokens(10, 5, m->config.vocab_size);
  KvCache cache(m->config, 12, 4);
  fwd.run(cache, std::span(tokens).subspan(0, 6), ForwardOptions{});
  const auto code_of = [&](std::vector<std::int32_t> input, ForwardOptions options = {}) {
    try {
      fwd.run(cache, input, options);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  REQUIRE(code_of({1, 97}) == ErrorCode::kInvalidArgument);
  REQUIRE(code_of({-1}) == ErrorCode::kInvalidArgument);
  REQUIRE(code_of({}) == ErrorCode::kInvalidArgument);
  REQUIRE(code_of(std::vector<std::int32_t>(7, 1)) == ErrorCode::kOutOfRange);
  ForwardOptions bad_tap;
  bad_tap.hidden_taps = {4};
  REQUIRE(code_of({1}, bad_tap) == ErrorCode::kInvalidArgument);
  std::atomic<bool> cancel{true};
  ForwardOptions cancelled;
  cancelled.cancel = &cancel;
  REQUIRE(code_of({1, 2, 3, 4, 5, 6}, cancelled) == ErrorCode::kCancelled);
  REQUIRE(cache.length() == 6);
  // The cache still continues exactly as an uninterrupted one.
  ForwardOptions all;
  all.all_logits = true;
  const ForwardOutput rest = fwd.run(cache, std::span(tokens).subspan(6), all);
  const std::vector<float> reference = run_in_steps(fwd, tokens, 10, 10);
  REQUIRE(same_bits(rest.logits.data(), reference.data() + 6 * 97, 4 * 97));
}

}  // namespace
}  // namespace mimo::cpu
