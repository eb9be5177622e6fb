// mimo::Sampler behaviour: greedy, determinism for a seed, copies and reset, logprobs against a
// float64 reference, and rejection of bad configs and inputs.
#include "mimo/sampler.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "api/sampler_chain.hpp"
#include "mimo/error.hpp"
#include "sampler_test_reference.hpp"
#include "support/catch.hpp"

namespace {

std::vector<float> random_logits(std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> out(n);
  for (float& x : out) x = normal(gen);
  return out;
}

std::vector<std::int32_t> draw_sequence(mimo::Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<std::int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(s.sample(logits.data(), static_cast<std::int32_t>(logits.size())).token);
  }
  return out;
}

// Runs f, which must throw mimo::Error(kInvalidArgument) whose message mentions `needle`.
template <typename F>
void require_invalid(F f, const std::string& needle) {
  bool thrown = false;
  try {
    f();
  } catch (const mimo::Error& e) {
    thrown = true;
    CHECK(e.code() == mimo::ErrorCode::kInvalidArgument);
    INFO(e.what());
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
  CHECK(thrown);
}

}  // namespace

TEST_CASE("sampler: greedy picks the argmax, ties go to the lowest id") {
  std::vector<float> logits = random_logits(1000, 1, 2.0f);
  const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
  mimo::Sampler greedy(mimo::SamplerConfig{});
  CHECK(greedy.sample(logits.data(), 1000).token == best);
  logits[17] = logits[best];
  logits[900] = logits[best];
  CHECK(greedy.sample(logits.data(), 1000).token == std::min<std::int64_t>(17, best));

  std::vector<float> p;
  greedy.probabilities(logits.data(), 1000, p);
  for (std::size_t i = 0; i < p.size(); ++i) {
    CHECK(p[i] == (static_cast<std::int64_t>(i) == std::min<std::int64_t>(17, best) ? 1.0f : 0.0f));
  }
}

TEST_CASE("sampler: filters break ties towards the lower id") {
  const std::vector<float> logits = {1.0f, 3.0f, 0.5f, 3.0f, 3.0f, 2.0f};
  mimo::SamplerConfig c;
  c.temperature = 1.0f;
  c.top_k = 2;
  c.top_logprobs = 3;
  mimo::Sampler top_k(c);
  std::vector<float> p;
  top_k.probabilities(logits.data(), 6, p);
  const std::vector<float> expected = {0.0f, 0.5f, 0.0f, 0.5f, 0.0f, 0.0f};
  CHECK(p == expected);
  c.top_k = 0;
  c.top_p = 0.5f;  // the three tied tokens share ~0.9 of the mass: the first two reach 0.5
  mimo::Sampler top_p(c);
  top_p.probabilities(logits.data(), 6, p);
  CHECK(p == expected);
  const mimo::SampleResult r = top_p.sample(logits.data(), 6);
  REQUIRE(r.top_logprobs.size() == 2);
  CHECK(r.top_logprobs[0].first == 1);
  CHECK(r.top_logprobs[1].first == 3);
}

TEST_CASE("sampler: greedy logprob is log softmax of the penalised logits at T=1") {
  const std::vector<float> logits = random_logits(300, 2, 3.0f);
  mimo::SamplerConfig c;
  c.top_logprobs = 5;
  c.repetition_penalty = 1.4f;
  c.logit_bias = {{7, 2.5f}, {8, -std::numeric_limits<float>::infinity()}};
  mimo::Sampler s(c);
  const std::vector<std::int32_t> history = {3, 7, 3, 250};
  for (const auto t : history) s.accept(t);
  const mimo::SampleResult r = s.sample(logits.data(), 300);
  const std::vector<double> p =
      mimo_test::softmax_over(mimo_test::penalised_logits(logits, c, history));
  const auto best = std::max_element(p.begin(), p.end()) - p.begin();
  CHECK(r.token == best);
  CHECK(std::abs(r.logprob - std::log(p[best])) < 1e-5);
  REQUIRE(r.top_logprobs.size() == 5);
  std::vector<double> sorted = p;
  std::sort(sorted.rbegin(), sorted.rend());
  for (int i = 0; i < 5; ++i) {
    const auto [id, lp] = r.top_logprobs[i];
    CHECK(p[id] == sorted[i]);
    CHECK(std::abs(lp - std::log(p[id])) < 1e-5);
  }
}

TEST_CASE("sampler: logprob and top_logprobs follow the final distribution") {
  const std::vector<float> logits = random_logits(500, 3, 2.0f);
  mimo::SamplerConfig c;
  c.temperature = 0.8f;
  c.top_k = 50;
  c.top_p = 0.9f;
  c.top_logprobs = 60;  // more than survive the filters: only non-zero ones are listed
  c.seed = 99;
  mimo::Sampler s(c);
  const std::vector<double> p = mimo_test::reference_distribution(logits, c, {});
  const std::size_t support = std::count_if(p.begin(), p.end(), [](double x) { return x > 0; });
  REQUIRE(support <= 50);
  for (int i = 0; i < 20; ++i) {
    const mimo::SampleResult r = s.sample(logits.data(), 500);
    REQUIRE(p[r.token] > 0);
    CHECK(std::abs(r.logprob - std::log(p[r.token])) < 1e-5);
    REQUIRE(r.top_logprobs.size() == support);
    for (std::size_t j = 0; j < r.top_logprobs.size(); ++j) {
      const auto [id, lp] = r.top_logprobs[j];
      CHECK(std::abs(lp - std::log(p[id])) < 1e-5);
      if (j > 0) CHECK(p[r.top_logprobs[j - 1].first] >= p[id]);
    }
  }
}

TEST_CASE("sampler: the same seed gives the same tokens, other seeds differ") {
  const std::vector<float> logits = random_logits(2000, 4, 1.0f);
  mimo::SamplerConfig c;
  c.temperature = 1.0f;
  c.seed = 1234;
  mimo::Sampler a(c), b(c);
  const auto first = draw_sequence(a, logits, 200);
  CHECK(first == draw_sequence(b, logits, 200));
  c.seed = 1235;
  mimo::Sampler other(c);
  CHECK(first != draw_sequence(other, logits, 200));
  a.reset();
  CHECK(first == draw_sequence(a, logits, 200));
}

TEST_CASE("sampler: the generator is xoshiro256** seeded by splitmix64 (pinned stream)") {
  // Values from an independent Python implementation of both algorithms.
  mimo::sampling::Rng zero(0);
  CHECK(zero.next_u64() == 0x99ec5f36cb75f2b4ull);
  CHECK(zero.next_u64() == 0xbf6e1f784956452aull);
  CHECK(zero.next_u64() == 0x1a5f849d4933e6e0ull);
  CHECK(zero.next_u64() == 0x6aa594f1262d2d2cull);
  mimo::sampling::Rng other(12345);
  CHECK(other.next_u64() == 0xbe6a36374160d49bull);
  CHECK(other.next_double() == static_cast<double>(0x214aaa0637a688c6ull >> 11) * 0x1.0p-53);
}

TEST_CASE("sampler: a copy continues exactly like the original, including history") {
  const std::vector<float> logits = random_logits(800, 5, 1.5f);
  mimo::SamplerConfig c;
  c.temperature = 0.9f;
  c.top_p = 0.95f;
  c.repetition_penalty = 1.3f;
  c.frequency_penalty = 0.2f;
  c.seed = 7;
  mimo::Sampler original(c);
  for (int i = 0; i < 10; ++i) original.accept(original.sample(logits.data(), 800).token);
  mimo::Sampler forked = original.fork();
  mimo::Sampler copied(c);
  copied = original;
  for (int i = 0; i < 50; ++i) {
    const std::int32_t t = original.sample(logits.data(), 800).token;
    CHECK(forked.sample(logits.data(), 800).token == t);
    CHECK(copied.sample(logits.data(), 800).token == t);
    original.accept(t);
    forked.accept(t);
    copied.accept(t);
  }
  // Independence: drawing from the fork does not move the original.
  mimo::Sampler probe = original.fork();
  const std::int32_t next = probe.sample(logits.data(), 800).token;
  for (int i = 0; i < 5; ++i) forked.sample(logits.data(), 800);
  CHECK(original.sample(logits.data(), 800).token == next);
}

TEST_CASE("sampler: sample(logits) == sample_from(probabilities(logits))") {
  const std::vector<float> logits = random_logits(5000, 6, 2.0f);
  mimo::SamplerConfig c;
  c.temperature = 1.1f;
  c.top_k = 300;
  c.top_p = 0.8f;
  c.min_p = 0.01f;
  c.seed = 2024;
  mimo::Sampler a(c), b(c);
  std::vector<float> p;
  for (int i = 0; i < 300; ++i) {
    b.probabilities(logits.data(), 5000, p);
    CHECK(a.sample(logits.data(), 5000).token == b.sample_from(p));
  }
}

TEST_CASE("sampler: sample_from draws proportionally and skips zeros") {
  mimo::SamplerConfig c;
  c.seed = 11;
  mimo::Sampler s(c);
  const std::vector<float> weights = {0.0f, 3.0f, 0.0f, 1.0f};  // unnormalised on purpose
  int counts[4] = {0, 0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[s.sample_from(weights)];
  CHECK(counts[0] == 0);
  CHECK(counts[2] == 0);
  // chi-square, 1 degree of freedom, p = 0.001 critical value 10.828
  const double e1 = n * 0.75, e3 = n * 0.25;
  const double chi2 =
      (counts[1] - e1) * (counts[1] - e1) / e1 + (counts[3] - e3) * (counts[3] - e3) / e3;
  CHECK(chi2 < 10.828);
}

TEST_CASE("sampler: invalid configs are rejected naming the field") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto make = [](auto edit) {
    return [edit] {
      mimo::SamplerConfig c;
      edit(c);
      mimo::Sampler s(c);
    };
  };
  require_invalid(make([](auto& c) { c.temperature = -0.5f; }), "temperature");
  require_invalid(make([&](auto& c) { c.temperature = nan; }), "temperature");
  require_invalid(make([](auto& c) { c.top_k = -1; }), "top_k");
  require_invalid(make([](auto& c) { c.top_p = 0.0f; }), "top_p");
  require_invalid(make([](auto& c) { c.top_p = 1.5f; }), "top_p");
  require_invalid(make([&](auto& c) { c.top_p = nan; }), "top_p");
  require_invalid(make([](auto& c) { c.min_p = -0.1f; }), "min_p");
  require_invalid(make([](auto& c) { c.min_p = 1.01f; }), "min_p");
  require_invalid(make([&](auto& c) { c.min_p = nan; }), "min_p");
  require_invalid(make([](auto& c) { c.repetition_penalty = 0.0f; }), "repetition_penalty");
  require_invalid(make([&](auto& c) { c.repetition_penalty = nan; }), "repetition_penalty");
  require_invalid(make([&](auto& c) { c.presence_penalty = nan; }), "presence_penalty");
  require_invalid(make([&](auto& c) { c.frequency_penalty = inf; }), "frequency_penalty");
  require_invalid(make([](auto& c) { c.penalty_last_n = -2; }), "penalty_last_n");
  require_invalid(make([](auto& c) { c.logit_bias = {{-1, 1.0f}}; }), "logit_bias");
  require_invalid(make([&](auto& c) { c.logit_bias = {{3, nan}}; }), "logit_bias");
  require_invalid(make([&](auto& c) { c.logit_bias = {{3, inf}}; }), "logit_bias");
  require_invalid(make([](auto& c) { c.top_logprobs = -1; }), "top_logprobs");
}

TEST_CASE("sampler: bad inputs at sample time are rejected without consuming randomness") {
  std::vector<float> logits = random_logits(100, 7, 1.0f);
  mimo::SamplerConfig c;
  c.temperature = 1.0f;
  c.seed = 5;
  mimo::Sampler s(c), twin(c);
  std::vector<float> p;
  require_invalid([&] { s.sample(logits.data(), 0); }, "vocab_size");
  require_invalid([&] { s.probabilities(logits.data(), -3, p); }, "vocab_size");
  require_invalid([&] { s.sample(nullptr, 100); }, "logits");
  std::vector<float> bad = logits;
  bad[42] = std::numeric_limits<float>::quiet_NaN();
  require_invalid([&] { s.sample(bad.data(), 100); }, "token 42");
  bad[42] = std::numeric_limits<float>::infinity();
  require_invalid([&] { s.sample(bad.data(), 100); }, "token 42");
  require_invalid([&] { s.accept(-4); }, "negative");
  require_invalid([&] { s.sample_from(std::vector<float>{}); }, "size");
  require_invalid([&] { s.sample_from(std::vector<float>{0.0f, 0.0f}); }, "zero");
  require_invalid([&] { s.sample_from(std::vector<float>{0.5f, -0.1f}); }, "probs[1]");
  CHECK(s.sample(logits.data(), 100).token == twin.sample(logits.data(), 100).token);

  mimo::SamplerConfig biased = c;
  biased.logit_bias = {{150, 1.0f}};
  mimo::Sampler b(biased);
  require_invalid([&] { b.sample(logits.data(), 100); }, "logit_bias");

  mimo::Sampler h(c);
  h.accept(100);
  require_invalid([&] { h.sample(logits.data(), 100); }, "outside the vocabulary");

  mimo::SamplerConfig banned = c;
  for (std::int32_t t = 0; t < 4; ++t) {
    banned.logit_bias.emplace_back(t, -std::numeric_limits<float>::infinity());
  }
  mimo::Sampler all_banned(banned);
  require_invalid([&] { all_banned.sample(logits.data(), 4); }, "banned");
}
