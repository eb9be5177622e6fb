// Sampled speculative decoding preserves the target distribution: on tiny-bf16 restricted by
// logit_bias to five tokens, the marginals of the 2nd and 4th generated tokens (the first ones
// decided by verification, the later after accepts and rollbacks) are computed exactly by
// enumerating every continuation, and speculative samples must fit them (chi-square, p = 0.001).
#include <array>
#include <cmath>
#include <limits>
#include <map>

#include "spec_test_support.hpp"

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

// Exact marginal distributions of generated tokens 0..depth-1 after `session`'s context.
void enumerate(mimo::Session& session, mimo::Sampler& sampler, int depth, double weight,
               std::vector<std::map<std::int32_t, double>>& marginals, int level = 0) {
  std::vector<float> p;
  sampler.probabilities(session.logits().data(), 256, p);
  for (std::int32_t t : kAllowed) {
    const double w = weight * p[t];
    marginals[level][t] += w;
    if (level + 1 < depth && w > 0) {
      auto child = session.fork();
      child->prefill({t});
      enumerate(*child, sampler, depth, w, marginals, level + 1);
    }
  }
}

// Pearson chi-square of `counts` against `probabilities` (bins with expectation < 5 merged);
// returns (statistic, degrees of freedom).
std::pair<double, int> chi_square(const std::map<std::int32_t, double>& probabilities,
                                  const std::map<std::int32_t, int>& counts, int n) {
  double stat = 0, merged_expected = 0, merged_observed = 0;
  int bins = 0;
  for (const auto& [token, prob] : probabilities) {
    const double expected = prob * n;
    const auto it = counts.find(token);
    const double observed = it == counts.end() ? 0 : it->second;
    if (expected < 5) {
      merged_expected += expected;
      merged_observed += observed;
      continue;
    }
    stat += (observed - expected) * (observed - expected) / expected;
    ++bins;
  }
  if (merged_expected > 0) {
    stat += (merged_observed - merged_expected) * (merged_observed - merged_expected) /
            std::max(merged_expected, 1e-9);
    ++bins;
  }
  return {stat, bins - 1};
}

double critical_p001(int df) {
  static const double table[] = {0, 10.828, 13.816, 16.266, 18.467, 20.515};
  REQUIRE(df >= 1);
  REQUIRE(df <= 5);
  return table[df];
}

}  // namespace

TEST_CASE("sampled speculative decoding preserves the target distribution", "[spec][sampling]") {
  auto model = spec_test::load("tiny-bf16");
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  auto base = model->new_session();
  base->prefill(prompt);
  mimo::Sampler probe(restricted(0));
  const int depth = 4;
  std::vector<std::map<std::int32_t, double>> exact(depth);
  enumerate(*base, probe, depth, 1.0, exact);

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
    auto [stat, df] = chi_square(exact[index], counts[index], runs);
    INFO("token " << index << ": chi-square " << stat << " with " << df << " dof");
    CHECK(stat < critical_p001(df));
  }
  // The test has power: the proposals alone (what accepting every draft would emit) miss.
  for (std::int32_t t : first_drafts) draft_counts[t] += 1;
  auto [draft_stat, draft_df] =
      chi_square(exact[1], draft_counts, static_cast<int>(first_drafts.size()));
  CHECK(first_drafts.size() == static_cast<std::size_t>(runs));
  CHECK(draft_stat > 10 * critical_p001(draft_df));
}
