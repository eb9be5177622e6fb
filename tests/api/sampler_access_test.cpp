// SamplerAccess, the Session's hook for sampling on a device: the request carries the sampler's
// config, its penalty window as counts and exactly the generator values sample() /
// sample_from() would use next; consuming a device draw leaves the Sampler where the host
// would. Runs without a GPU (the device side is tests/gpu/sampling_test.cpp).
#include "api/sampler_access.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include "api/sampler_chain.hpp"
#include "mimo/sampler.hpp"
#include "support/catch.hpp"

namespace {

using mimo::Sampler;
using mimo::SamplerAccess;
using mimo::SamplerConfig;

// The first `n` uniforms of a fresh generator seeded with `seed`, as Sampler draws them.
std::vector<double> stream(std::uint64_t seed, int n) {
  mimo::sampling::Rng rng(seed);
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(rng.next_double());
  return out;
}

TEST_CASE("device_request peeks the generator values the host would use, without consuming",
          "[sampler]") {
  SamplerConfig config;
  config.temperature = 0.8f;
  config.seed = 1234;
  Sampler sampler(config);
  const std::vector<double> u = stream(1234, 6);
  for (int ahead = 0; ahead < 4; ++ahead) {
    const auto r = SamplerAccess::device_request(sampler, 100, ahead);
    REQUIRE(r);
    CHECK(r->u == u[ahead]);
    CHECK(r->u2 == u[ahead + 1]);
  }
  // Nothing was consumed: the next host draw still uses u[0]. A two-entry draw shows which
  // value it used (index 0 iff u < 1/2).
  const float halves[2] = {1.0f, 1.0f};
  Sampler copy = sampler;
  CHECK(copy.sample_from(halves, 2) == (u[0] < 0.5 ? 0 : 1));
  // consume_device_draw advances by exactly the values asked for.
  SamplerAccess::consume_device_draw(sampler, 2);
  CHECK(SamplerAccess::device_request(sampler, 100)->u == u[2]);
  SamplerAccess::consume_device_draw(sampler);
  CHECK(SamplerAccess::device_request(sampler, 100)->u == u[3]);
}

TEST_CASE("device_request of a greedy sampler consumes nothing and draws nothing", "[sampler]") {
  SamplerConfig config;  // temperature 0
  config.seed = 7;
  Sampler sampler(config);
  SamplerAccess::consume_device_draw(sampler, 2);
  const auto r = SamplerAccess::device_request(sampler, 10);
  REQUIRE(r);
  CHECK(r->config.temperature == 0.0f);
  // The generator did not move: a copy switched to sampling would still start at u[0].
  const std::vector<double> u = stream(7, 1);
  const float halves[2] = {1.0f, 1.0f};
  CHECK(sampler.sample_from(halves, 2) == (u[0] < 0.5 ? 0 : 1));
}

TEST_CASE("device_request carries the config and the penalty window as counts", "[sampler]") {
  SamplerConfig config;
  config.temperature = 1.1f;
  config.top_k = 40;
  config.top_p = 0.9f;
  config.min_p = 0.02f;
  config.repetition_penalty = 1.2f;
  config.presence_penalty = 0.3f;
  config.frequency_penalty = 0.1f;
  config.penalty_last_n = 4;
  config.logit_bias = {{5, 1.0f}, {5, -0.5f}, {9, -std::numeric_limits<float>::infinity()}};
  config.top_logprobs = 3;
  Sampler sampler(config);
  for (std::int32_t t : {1, 2, 2, 3, 2, 7}) sampler.accept(t);  // window: 2 3 2 7
  const auto r = SamplerAccess::device_request(sampler, 50);
  REQUIRE(r);
  CHECK(r->config.top_k == 40);
  CHECK(r->config.top_p == 0.9f);
  CHECK(r->config.min_p == 0.02f);
  CHECK(r->config.repetition_penalty == 1.2f);
  CHECK(r->config.top_logprobs == 3);
  CHECK(r->config.logit_bias == config.logit_bias);
  const std::map<std::int32_t, int> counts(r->penalty_counts.begin(), r->penalty_counts.end());
  CHECK(counts == std::map<std::int32_t, int>{{2, 2}, {3, 1}, {7, 1}});
  CHECK(r->penalty_counts.size() == counts.size());  // each token once
  CHECK(r->draft == -1);
}

TEST_CASE("device_request declines what only the host can report", "[sampler]") {
  SamplerConfig config;
  config.temperature = 0.5f;
  config.logit_bias = {{60, 1.0f}};
  Sampler biased(config);
  CHECK_FALSE(SamplerAccess::device_request(biased, 50));  // bias token outside the vocabulary
  CHECK(SamplerAccess::device_request(biased, 61));
  Sampler history(SamplerConfig{});
  history.accept(70);
  CHECK_FALSE(SamplerAccess::device_request(history, 50));  // history token outside it
  CHECK(SamplerAccess::device_request(history, 71));
}

}  // namespace
