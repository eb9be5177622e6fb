// Sampled speculative decoding preserves the target distribution: on tiny-bf16 restricted by
// logit_bias to five tokens, the marginals of the 2nd and 4th generated tokens (the first ones
// decided by verification, the later after accepts and rollbacks) are computed exactly by
// enumerating every continuation, and speculative samples must fit them (chi-square, p = 0.001).
#include <array>
#include <cmath>
#include <limits>
#include <map>

#include "exact_marginals.hpp"
#include "spec_test_support.hpp"
#include "support/chi_square.hpp"

namespace {

const std::array<std::int32_t, 5> kAllowed = {25, 133, 112, 47, 201};

mimo::SamplerConfig restricted(std::uint64_t seed) {
  mimo::SamplerConfig config;
  config.temperature = 1.5f;
  config.seed = seed;
  for (std::int32_t t = 0; t < 256; ++t) {
    if (std::find(kAllowed.begin(), kAllowed.end(), t) == kAllowed.end()) {
      config.logit_bias.emplace_back(t, -std::numeric_limits<float>::infinity());
    }
  }
  return config;
}

}  // namespace

TEST_CASE("sampled speculative decoding preserves the target distribution", "[spec][sampling]") {
  auto model = spec_test::load("tiny-bf16");
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  auto base = model->new_session();
  base->prefill(prompt);
  const int depth = 4;
  const auto exact = spec_test::exact_tokens(*base, mimo::Sampler(restricted(0)), depth).marginal;

  // Proposals: a fixed function of the context, often but not always what the target picks.
  std::vector<std::int32_t> first_drafts;
  auto speculator = std::make_shared<spec_test::ScriptedSpeculator>(
      [&first_drafts](const std::vector<std::int32_t>& context, int limit) {
        std::vector<std::int32_t> out;
        std::uint32_t h = static_cast<std::uint32_t>(context.size()) * 2654435761u;
        for (std::int32_t t : context) h = (h ^ static_cast<std::uint32_t>(t)) * 16777619u;
        for (int i = 0; i < limit; ++i) out.push_back(kAllowed[(h >> (3 * i)) % 3]);
        if (context.size() == 13 && !out.empty()) first_drafts.push_back(out[0]);
        return out;
      },
      3);

  const int runs = 3000;
  std::vector<std::map<std::int32_t, int>> counts(depth);
  std::map<std::int32_t, int> draft_counts;
  for (int r = 0; r < runs; ++r) {
    auto session = base->fork();
    mimo::Sampler sampler(restricted(1000 + r));
    mimo::GenerateOptions options;
    options.max_tokens = depth;
    options.ignore_eos = true;
    options.speculator = speculator;
    auto tokens = session->generate({}, sampler, options).tokens;
    REQUIRE(tokens.size() == static_cast<std::size_t>(depth));
    for (int i = 0; i < depth; ++i) counts[i][tokens[i]] += 1;
  }
  for (int index : {1, 3}) {
    const mimo_test::ChiSquare c = mimo_test::goodness_of_fit(exact[index], counts[index], runs);
    INFO("token " << index << ": chi-square " << c.statistic << " with " << c.dof << " dof");
    REQUIRE(c.dof >= 1);
    CHECK(c.statistic < mimo_test::critical_p001(c.dof));
  }
  // The test has power: the proposals alone (what accepting every draft would emit) miss.
  for (std::int32_t t : first_drafts) draft_counts[t] += 1;
  const mimo_test::ChiSquare control =
      mimo_test::goodness_of_fit(exact[1], draft_counts, static_cast<int>(first_drafts.size()));
  CHECK(first_drafts.size() == static_cast<std::size_t>(runs));
  CHECK(control.statistic > 10 * mimo_test::critical_p001(control.dof));
}
