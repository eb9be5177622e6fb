// Sampled speculative verification against a drafter's distribution (verify_against_proposal,
// draw_drafts): for every sampler setting, a draft drawn from q and verified with the
// min(1, p/q) rule emits tokens distributed exactly as the target's P (chi-square over 20000
// seeds), accepts at the theoretical rate sum(min(P, q)), and never re-emits a rejected draft.
#include "api/speculative_verify.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include "api/draft_sampling.hpp"
#include "mimo/sampler.hpp"
#include "support/catch.hpp"
#include "support/chi_square.hpp"

namespace {

using mimo::Sampler;
using mimo::SamplerConfig;

// Target and drafter rows over 8 tokens: related but clearly different distributions.
const std::vector<float> kTarget = {1.4f, 0.3f, 2.0f, -0.5f, 0.9f, 1.1f, -1.3f, 0.1f};
const std::vector<float> kDrafter = {0.2f, 1.5f, 1.8f, 0.4f, -0.8f, 1.2f, 0.6f, -0.2f};
const std::vector<std::int32_t> kHistory = {2, 5, 5, 0};
constexpr std::int32_t kVocab = 8;

std::vector<float> distribution(const SamplerConfig& config, const std::vector<float>& logits) {
  Sampler s(config);
  for (std::int32_t t : kHistory) s.accept(t);
  std::vector<float> p;
  s.probabilities(logits.data(), kVocab, p);
  return p;
}

void check_exact(const SamplerConfig& base) {
  const std::vector<float> p = distribution(base, kTarget);
  const std::vector<float> q = distribution(base, kDrafter);
  double acceptance = 0;  // sum over x of min(P(x), q(x))
  std::map<std::int32_t, double> expected;
  for (std::int32_t x = 0; x < kVocab; ++x) {
    acceptance += std::min(p[x], q[x]);
    if (p[x] > 0) expected[x] = p[x];
  }
  const int n = 20000;
  std::map<std::int32_t, int> emitted, drafted;
  int accepted = 0;
  std::vector<float> scratch_p, scratch_residual;
  for (int r = 0; r < n; ++r) {
    SamplerConfig config = base;
    config.seed = 7000 + r;
    Sampler s(config);
    for (std::int32_t t : kHistory) s.accept(t);
    const mimo::DrawnDrafts d = mimo::draw_drafts(s, kDrafter, 1, kVocab);
    const mimo::SampleResult out = mimo::verify_against_proposal(
        s, kTarget.data(), kVocab, d.tokens[0], d.q.data(), scratch_p, scratch_residual);
    ++drafted[d.tokens[0]];
    ++emitted[out.token];
    if (out.token == d.tokens[0]) ++accepted;
    CHECK(out.logprob == Approx(std::log(p[out.token])).margin(1e-5));
  }
  const mimo_test::ChiSquare fit = mimo_test::goodness_of_fit(expected, emitted, n);
  INFO("emitted: chi-square " << fit.statistic << " with " << fit.dof << " dof");
  REQUIRE(fit.dof >= 1);
  CHECK(fit.statistic < mimo_test::critical_p001(fit.dof));
  // Acceptance is binomial(n, sum min(P, q)): within 4.5 standard deviations.
  const double sd = std::sqrt(n * acceptance * (1 - acceptance));
  INFO("accepted " << accepted << " of " << n << ", expected " << n * acceptance);
  CHECK(std::abs(accepted - n * acceptance) < 4.5 * sd);
  CHECK(acceptance > 0.2);
  CHECK(acceptance < 0.9);
  // Power: the drafts themselves (what emitting them unverified would give) fail the same test.
  const mimo_test::ChiSquare control = mimo_test::goodness_of_fit(expected, drafted, n);
  CHECK(control.statistic > 10 * mimo_test::critical_p001(control.dof));
}

SamplerConfig with_temperature(float t) {
  SamplerConfig c;
  c.temperature = t;
  return c;
}

}  // namespace

TEST_CASE("speculative verify: drafts from q keep the target distribution, temperature") {
  check_exact(with_temperature(1.0f));
  check_exact(with_temperature(0.7f));
}

TEST_CASE("speculative verify: drafts from q keep the target distribution, top-k") {
  SamplerConfig c = with_temperature(1.0f);
  c.top_k = 4;
  check_exact(c);
}

TEST_CASE("speculative verify: drafts from q keep the target distribution, top-p") {
  SamplerConfig c = with_temperature(1.0f);
  c.top_p = 0.8f;
  check_exact(c);
}

TEST_CASE("speculative verify: drafts from q keep the target distribution, min-p") {
  SamplerConfig c = with_temperature(1.0f);
  c.min_p = 0.2f;
  check_exact(c);
}

TEST_CASE("speculative verify: drafts from q keep the target distribution, penalties and bias") {
  SamplerConfig c = with_temperature(1.0f);
  c.repetition_penalty = 1.8f;
  c.presence_penalty = 0.3f;
  c.frequency_penalty = 0.2f;
  c.logit_bias = {{2, -1.0f}, {6, 1.5f}, {3, -std::numeric_limits<float>::infinity()}};
  check_exact(c);
}

TEST_CASE("speculative verify: q equal to P always accepts") {
  SamplerConfig c = with_temperature(0.8f);
  std::vector<float> p, residual;
  for (int r = 0; r < 2000; ++r) {
    c.seed = r;
    Sampler s(c);
    const mimo::DrawnDrafts d = mimo::draw_drafts(s, kTarget, 1, kVocab);
    const auto out = mimo::verify_against_proposal(s, kTarget.data(), kVocab, d.tokens[0],
                                                   d.q.data(), p, residual);
    REQUIRE(out.token == d.tokens[0]);
  }
}

TEST_CASE("speculative verify: a draft q over-proposes is kept with probability P/q, no more") {
  // The drafter puts most of its mass on token 6, which the target rarely picks: the draft must
  // survive at rate P(6)/q(6); a residual that could return the draft would raise that rate.
  std::vector<float> drafter(kVocab, 0.0f);
  drafter[6] = 3.0f;
  const SamplerConfig c = with_temperature(1.0f);
  const std::vector<float> p6 = distribution(c, kTarget), q6 = distribution(c, drafter);
  REQUIRE(q6[6] > 5 * p6[6]);
  std::vector<float> p, residual;
  int drafted = 0, kept = 0;
  for (int r = 0; r < 20000; ++r) {
    SamplerConfig seeded = c;
    seeded.seed = r;
    Sampler s(seeded);
    for (std::int32_t t : kHistory) s.accept(t);
    const mimo::DrawnDrafts d = mimo::draw_drafts(s, drafter, 1, kVocab);
    const auto out = mimo::verify_against_proposal(s, kTarget.data(), kVocab, d.tokens[0],
                                                   d.q.data(), p, residual);
    if (d.tokens[0] != 6) continue;
    ++drafted;
    if (out.token == 6) ++kept;
  }
  const double rate = p6[6] / q6[6];
  const double sd = std::sqrt(drafted * rate * (1 - rate));
  INFO("kept " << kept << " of " << drafted << ", expected " << drafted * rate);
  CHECK(std::abs(kept - drafted * rate) < 4.5 * sd);
}

TEST_CASE(
    "draw_drafts: row i sees the history plus drafts 0..i-1, and the sampler's does not grow") {
  SamplerConfig c = with_temperature(1.0f);
  c.repetition_penalty = 3.0f;
  c.seed = 11;
  Sampler s(c);
  for (std::int32_t t : kHistory) s.accept(t);
  const Sampler before = s;
  std::vector<float> rows;
  for (int i = 0; i < 3; ++i) rows.insert(rows.end(), kDrafter.begin(), kDrafter.end());
  const mimo::DrawnDrafts d = mimo::draw_drafts(s, rows, 3, kVocab);
  REQUIRE(d.tokens.size() == 3);
  REQUIRE(d.q.size() == 3u * kVocab);
  Sampler expected = before;
  std::vector<float> want;
  for (int i = 0; i < 3; ++i) {
    expected.probabilities(kDrafter.data(), kVocab, want);
    for (std::int32_t x = 0; x < kVocab; ++x) CHECK(d.q[i * kVocab + x] == want[x]);
    expected.accept(d.tokens[i]);
  }
  // The penalty window is the session's: unchanged. The generator moved by one value a draft.
  std::vector<float> now, then;
  s.probabilities(kTarget.data(), kVocab, now);
  Sampler(before).probabilities(kTarget.data(), kVocab, then);
  CHECK(now == then);
  Sampler advanced = before;
  const float one[1] = {1.0f};
  for (int i = 0; i < 3; ++i) advanced.sample_from(one, 1);
  for (int i = 0; i < 20; ++i)
    CHECK(s.sample(kTarget.data(), kVocab).token == advanced.sample(kTarget.data(), kVocab).token);
}
