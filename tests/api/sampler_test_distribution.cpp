// mimo::Sampler's distributions: chi-square goodness of fit of the drawn tokens for each filter,
// and probabilities() (penalties, logit bias, filters on a 152k vocabulary) against a float64
// reference derived independently from docs/sampling.md.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "mimo/sampler.hpp"
#include "sampler_test_reference.hpp"
#include "support/catch.hpp"

namespace {

// A fixed small-vocabulary logit row with both signs and no ties.
const std::vector<float> kLogits = {1.3f, -0.4f, 0.85f,  2.1f, -1.2f,
                                    0.2f, 1.7f,  -0.05f, 0.6f, -2.0f};

// chi-square critical values at p = 0.001 for 1..10 degrees of freedom.
const double kChiSquare999[] = {10.828, 13.816, 16.266, 18.467, 20.515,
                                22.458, 24.322, 26.124, 27.877, 29.588};

// Draws 20000 tokens and checks them against the reference distribution: never a token of
// probability zero, and a chi-square statistic below the p = 0.001 critical value.
void check_goodness_of_fit(const mimo::SamplerConfig& c, const std::vector<std::int32_t>& history) {
  const std::vector<double> expected = mimo_test::reference_distribution(kLogits, c, history);
  mimo::Sampler s(c);
  for (const auto t : history) s.accept(t);
  const int n = 20000;
  std::vector<int> counts(kLogits.size(), 0);
  for (int i = 0; i < n; ++i) {
    ++counts[s.sample(kLogits.data(), static_cast<std::int32_t>(kLogits.size())).token];
  }
  double chi2 = 0;
  int categories = 0;
  for (std::size_t t = 0; t < kLogits.size(); ++t) {
    if (expected[t] == 0.0) {
      CHECK(counts[t] == 0);
      continue;
    }
    const double e = n * expected[t];
    REQUIRE(e >= 5.0);  // the chi-square approximation needs it
    chi2 += (counts[t] - e) * (counts[t] - e) / e;
    ++categories;
  }
  REQUIRE(categories >= 2);
  INFO("chi2 = " << chi2 << " with " << categories - 1 << " degrees of freedom");
  CHECK(chi2 < kChiSquare999[categories - 2]);
}

std::vector<float> random_logits(std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> out(n);
  for (float& x : out) x = normal(gen);
  return out;
}

// probabilities() equals the reference entry by entry, with the same support.
void check_probabilities(const std::vector<float>& logits, const mimo::SamplerConfig& c,
                         const std::vector<std::int32_t>& history, double tolerance) {
  mimo::Sampler s(c);
  for (const auto t : history) s.accept(t);
  std::vector<float> p;
  s.probabilities(logits.data(), static_cast<std::int32_t>(logits.size()), p);
  const std::vector<double> expected = mimo_test::reference_distribution(logits, c, history);
  REQUIRE(p.size() == expected.size());
  double sum = 0;
  int mismatches = 0;
  for (std::size_t t = 0; t < p.size(); ++t) {
    sum += p[t];
    const bool support_differs = (p[t] == 0.0f) != (expected[t] == 0.0);
    if (support_differs || std::abs(p[t] - expected[t]) > tolerance) {
      if (++mismatches <= 5) {
        INFO("token " << t << ": got " << p[t] << ", expected " << expected[t]);
        CHECK(false);
      }
    }
  }
  CHECK(mismatches == 0);
  CHECK(std::abs(sum - 1.0) < 1e-5);
}

}  // namespace

TEST_CASE("sampler: chi-square fit, plain temperature") {
  mimo::SamplerConfig c;
  c.seed = 101;
  c.temperature = 0.8f;
  check_goodness_of_fit(c, {});
  c.temperature = 1.7f;
  check_goodness_of_fit(c, {});
}

TEST_CASE("sampler: chi-square fit, top-k") {
  mimo::SamplerConfig c;
  c.seed = 102;
  c.temperature = 1.0f;
  c.top_k = 4;
  check_goodness_of_fit(c, {});
}

TEST_CASE("sampler: chi-square fit, top-p") {
  mimo::SamplerConfig c;
  c.seed = 103;
  c.temperature = 1.2f;
  c.top_p = 0.7f;
  check_goodness_of_fit(c, {});
}

TEST_CASE("sampler: chi-square fit, min-p") {
  mimo::SamplerConfig c;
  c.seed = 104;
  c.temperature = 0.9f;
  c.min_p = 0.15f;
  check_goodness_of_fit(c, {});
}

TEST_CASE("sampler: chi-square fit, every filter with penalties and bias") {
  mimo::SamplerConfig c;
  c.seed = 105;
  c.temperature = 1.1f;
  c.top_k = 8;
  c.top_p = 0.93f;
  c.min_p = 0.04f;
  c.repetition_penalty = 1.25f;
  c.presence_penalty = 0.3f;
  c.frequency_penalty = 0.15f;
  c.penalty_last_n = 5;
  c.logit_bias = {{9, 2.6f}, {1, -std::numeric_limits<float>::infinity()}};
  const std::vector<std::int32_t> history = {0, 3, 3, 7, 6, 3};
  const std::vector<double> p = mimo_test::reference_distribution(kLogits, c, history);
  int support = 0;
  for (const double x : p) support += x > 0;
  REQUIRE(support >= 4);
  REQUIRE(support < 8);  // some filter did cut
  check_goodness_of_fit(c, history);
}

TEST_CASE("sampler: penalties and logit bias change the logits exactly as documented") {
  // Hand-computed for two tokens, then the whole row against the reference.
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 0.0f};
  mimo::SamplerConfig c;
  c.temperature = 1.0f;
  c.repetition_penalty = 2.0f;
  c.presence_penalty = 0.5f;
  c.frequency_penalty = 0.25f;
  c.logit_bias = {{2, 1.0f}};
  mimo::Sampler s(c);
  for (const std::int32_t t : {0, 1, 0}) s.accept(t);
  // token 0: 2/2 - 0.5 - 0.25*2 = 0; token 1: -1*2 - 0.5 - 0.25 = -2.75; token 2: 0.5 + 1 = 1.5
  const double l[4] = {0.0, -2.75, 1.5, 0.0};
  double sum = 0;
  for (const double x : l) sum += std::exp(x);
  std::vector<float> p;
  s.probabilities(logits.data(), 4, p);
  for (int t = 0; t < 4; ++t) CHECK(std::abs(p[t] - std::exp(l[t]) / sum) < 1e-6);

  const std::vector<float> row = random_logits(3000, 21, 2.0f);
  std::vector<std::int32_t> history;
  std::mt19937 gen(22);
  for (int i = 0; i < 200; ++i) history.push_back(static_cast<std::int32_t>(gen() % 60));
  c.logit_bias = {{5, -3.0f}, {70, 4.0f}, {71, -std::numeric_limits<float>::infinity()}};
  for (const int last_n : {64, -1, 0, 1}) {
    c.penalty_last_n = last_n;
    INFO("penalty_last_n = " << last_n);
    check_probabilities(row, c, history, 1e-6);
  }
}

TEST_CASE("sampler: a banned token is never drawn") {
  mimo::SamplerConfig c;
  c.seed = 8;
  c.temperature = 2.0f;
  c.logit_bias = {{3, -std::numeric_limits<float>::infinity()}};
  mimo::Sampler s(c);
  for (int i = 0; i < 5000; ++i) {
    CHECK(s.sample(kLogits.data(), static_cast<std::int32_t>(kLogits.size())).token != 3);
  }
}

TEST_CASE("sampler: filters on a 152k vocabulary match the full-sort reference") {
  const std::vector<float> logits = random_logits(152064, 31, 3.0f);
  mimo::SamplerConfig c;
  c.temperature = 1.0f;
  c.top_p = 0.9f;
  check_probabilities(logits, c, {}, 1e-7);
  c.temperature = 0.7f;
  c.top_p = 0.5f;
  check_probabilities(logits, c, {}, 1e-7);
  c.top_p = 1.0f;
  c.top_k = 40;
  check_probabilities(logits, c, {}, 1e-7);
  c.top_k = 0;
  c.min_p = 0.05f;
  check_probabilities(logits, c, {}, 1e-7);
  c.temperature = 1.3f;
  c.top_k = 2000;
  c.top_p = 0.95f;
  c.min_p = 0.001f;
  check_probabilities(logits, c, {}, 1e-7);
}
