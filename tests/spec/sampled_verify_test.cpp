// Sampled speculative decoding with drafts drawn from the drafter's distribution q (accepted
// with probability min(1, p/q), residual max(0, p - q)) keeps plain sampling's distribution,
// for every sampler setting: on tiny-bf16 with the fixture DFlash drafter (block 4, so the
// first verify step decides up to four tokens), the first generated tokens of many seeded runs
// fit the exact distribution of plain sampling, enumerated over every continuation (marginals
// of tokens 1..4 and the joint of tokens 1 and 2; chi-square, p = 0.001). Each setting also
// checks that drafts were both accepted and rejected, so the residual path ran.
#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "exact_marginals.hpp"
#include "mimo/error.hpp"
#include "spec/lookup_first_speculator.hpp"
#include "spec_test_support.hpp"
#include "support/chi_square.hpp"

namespace {

constexpr int kDepth = 5;  // tokens 0..4: the prefill's token, then a full block (3 drafts + bonus)
// Plain sampling on the untrained tiny fixture spreads over all 256 tokens; enumerating every
// continuation needs a small support, so each setting keeps to these tokens by logit bias
// (applied to p and q alike, like every other transform).
const std::vector<std::int32_t> kAllowed = {25, 47, 201, 224, 69, 236};

mimo::SamplerConfig restricted(float temperature) {
  mimo::SamplerConfig config;
  config.temperature = temperature;
  for (std::int32_t t = 0; t < 256; ++t) {
    if (std::find(kAllowed.begin(), kAllowed.end(), t) == kAllowed.end()) {
      config.logit_bias.emplace_back(t, -std::numeric_limits<float>::infinity());
    }
  }
  return config;
}

// Proposes from the target's own next-token logits (a fresh prefill of the context), repeated
// for every draft row: the first draft's q equals p exactly, so the block's later rows are
// always reached, each with the penalty window of the drafts before it.
class TargetEcho final : public mimo::Speculator {
 public:
  explicit TargetEcho(const mimo::Model& model) : model_(model) {}
  std::string name() const override { return "target-echo"; }
  int max_draft() const override { return 3; }
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>&, int) override { return {}; }
  int draft_logits(const std::vector<std::int32_t>& context, int max_draft, std::int32_t vocab,
                   std::vector<float>& logits) override {
    auto session = model_.new_session();
    session->prefill(context);
    const std::vector<float>& row = session->logits();
    REQUIRE(row.size() == static_cast<std::size_t>(vocab));
    logits.clear();
    for (int i = 0; i < max_draft; ++i) logits.insert(logits.end(), row.begin(), row.end());
    return max_draft;
  }

 private:
  const mimo::Model& model_;
};

using MakeSpeculator = std::function<std::shared_ptr<mimo::Speculator>(const mimo::Model&)>;

std::shared_ptr<mimo::Speculator> fixture_drafter(const mimo::Model& model) {
  return mimo::make_dflash_speculator(model, spec_test::data("dflash/drafter"));
}

// Runs `runs` seeded speculative generations of kDepth tokens and checks them against the
// exact distribution of plain sampling with `config`.
void check_setting(const mimo::SamplerConfig& config, int runs,
                   const MakeSpeculator& make_speculator = fixture_drafter) {
  // One thread: the tiny fixture's steps are too small to gain from a second one.
  auto model = spec_test::load("tiny-bf16", 256, 8, 1);
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  auto base = model->new_session();
  base->prefill(prompt);
  mimo::Sampler plain(config);
  for (std::int32_t t : prompt) plain.accept(t);
  const spec_test::ExactTokens exact = spec_test::exact_tokens(*base, plain, kDepth);

  const std::shared_ptr<mimo::Speculator> speculator = make_speculator(*model);
  std::vector<std::map<std::int32_t, int>> counts(kDepth);
  std::map<std::pair<std::int32_t, std::int32_t>, int> joint;
  std::int64_t drafted = 0, accepted = 0;
  for (int r = 0; r < runs; ++r) {
    mimo::SamplerConfig seeded = config;
    seeded.seed = 5000 + r;
    mimo::SessionStats stats;
    const auto tokens =
        spec_test::generate(*model, prompt, kDepth, speculator, seeded, &stats).tokens;
    REQUIRE(tokens.size() == static_cast<std::size_t>(kDepth));
    for (int i = 0; i < kDepth; ++i) counts[i][tokens[i]] += 1;
    joint[{tokens[1], tokens[2]}] += 1;
    drafted += stats.speculation.drafted_tokens;
    accepted += stats.speculation.accepted_tokens;
  }
  for (int index = 1; index < kDepth; ++index) {
    const mimo_test::ChiSquare c =
        mimo_test::goodness_of_fit(exact.marginal[index], counts[index], runs);
    INFO("token " << index << ": chi-square " << c.statistic << " with " << c.dof << " dof");
    REQUIRE(c.dof >= 1);
    CHECK(c.statistic < mimo_test::critical_p001(c.dof));
  }
  const mimo_test::ChiSquare j = mimo_test::goodness_of_fit(exact.joint12, joint, runs);
  INFO("tokens 1 and 2 jointly: chi-square " << j.statistic << " with " << j.dof << " dof");
  CHECK(j.statistic < mimo_test::critical_p001(j.dof));
  // Both paths of the rule ran many times: drafts kept and drafts replaced from the residual.
  INFO("accepted " << accepted << " of " << drafted << " drafts");
  CHECK(accepted > drafted / 10);
  CHECK(drafted - accepted > drafted / 10);
}

}  // namespace

// The fixture drafter is untrained and keeps only 14-19 % of its drafts here: most blocks end
// in a residual draw, and a kept draft is followed by a verify row under its penalty window.
constexpr int kRuns = 1000;

TEST_CASE("sampled DFlash verification keeps the distribution: temperature", "[spec][sampling]") {
  check_setting(restricted(1.0f), kRuns);
}

// Lookup drafts (one-hot), the drafter's drawn drafts (q) and plain steps in one speculator: each
// step is verified by its own proposal's rule, so the mix keeps the distribution too. The clock
// advances 1 ms a reading, so every step "takes" the same time and the source is chosen by the
// tokens it keeps: the drafter's and the lookups' are close here, and both are chosen often.
TEST_CASE("sampled lookup-first DFlash keeps the distribution", "[spec][sampling][lookup]") {
  std::shared_ptr<mimo::spec::LookupFirstSpeculator> used;
  check_setting(restricted(1.0f), kRuns, [&used](const mimo::Model& model) {
    auto ticks = std::make_shared<double>(0.0);
    used = std::make_shared<mimo::spec::LookupFirstSpeculator>(fixture_drafter(model), 3, 0,
                                                               [ticks] { return *ticks += 1e-3; });
    return used;
  });
  using mimo::spec::LookupFirstSpeculator;
  const std::int64_t lookups =
      used->lookup_steps(1) + used->lookup_steps(2) + used->lookup_steps(3);
  INFO(used->summary());
  CHECK(used->steps_by_source()[LookupFirstSpeculator::kDrafter] > kRuns / 10);
  CHECK(lookups > kRuns / 10);
}

TEST_CASE("sampled DFlash verification keeps the distribution: top-k", "[spec][sampling]") {
  mimo::SamplerConfig config = restricted(0.8f);
  config.top_k = 3;
  check_setting(config, kRuns);
}

TEST_CASE("sampled DFlash verification keeps the distribution: top-p", "[spec][sampling]") {
  mimo::SamplerConfig config = restricted(1.3f);
  config.top_p = 0.8f;
  check_setting(config, kRuns);
}

TEST_CASE("sampled DFlash verification keeps the distribution: min-p", "[spec][sampling]") {
  mimo::SamplerConfig config = restricted(1.3f);
  config.min_p = 0.1f;
  check_setting(config, kRuns);
}

// Repeats are frequent in five tokens drawn from six, so the penalty window of each verify row
// (the history plus the drafts accepted before it) changes p at almost every position.
TEST_CASE("sampled DFlash verification keeps the distribution: penalties", "[spec][sampling]") {
  mimo::SamplerConfig config = restricted(1.0f);
  config.repetition_penalty = 2.0f;
  config.presence_penalty = 0.5f;
  config.frequency_penalty = 0.3f;
  check_setting(config, kRuns);
}

// With the target's own row as q, the first draft is always kept, so rows 2 and 3 of every
// block are decided in the verify pass, under the penalty window of the drafts before them.
TEST_CASE("sampled verification keeps the distribution: penalties inside a kept block",
          "[spec][sampling]") {
  mimo::SamplerConfig config = restricted(1.0f);
  config.repetition_penalty = 2.0f;
  config.presence_penalty = 0.5f;
  config.frequency_penalty = 0.3f;
  check_setting(config, kRuns,
                [](const mimo::Model& model) { return std::make_shared<TargetEcho>(model); });
}

TEST_CASE("sampled DFlash verification keeps the distribution: logit bias", "[spec][sampling]") {
  mimo::SamplerConfig config = restricted(1.0f);
  config.logit_bias.emplace_back(201, -2.5f);
  config.logit_bias.emplace_back(47, 1.0f);
  config.logit_bias.emplace_back(224, 0.5f);
  check_setting(config, kRuns);
}

TEST_CASE("DFlash draft_logits: rows argmax to propose(), none with sample_drafts off",
          "[spec][sampling]") {
  auto model = spec_test::load("tiny-bf16", 256, 8, 1);
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  for (bool sample_drafts : {true, false}) {
    mimo::DFlashOptions options;
    options.sample_drafts = sample_drafts;
    auto dflash = mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter"), options);
    // One generated token: the drafter has seen the prompt's features, the token is the anchor.
    auto session = model->new_session();
    mimo::Sampler sampler{mimo::SamplerConfig{}};
    mimo::GenerateOptions generate;
    generate.max_tokens = 1;
    generate.ignore_eos = true;
    generate.speculator = dflash;
    session->generate(prompt, sampler, generate);
    const std::vector<std::int32_t> context = session->tokens();
    std::vector<float> rows;
    const int n = dflash->draft_logits(context, 3, 256, rows);
    if (!sample_drafts) {
      CHECK(n == 0);
      continue;
    }
    REQUIRE(n == 3);
    REQUIRE(rows.size() == 3u * 256);
    const std::vector<std::int32_t> drafts = dflash->propose(context, 3);
    REQUIRE(drafts.size() == 3);
    for (int i = 0; i < n; ++i) {
      const float* row = rows.data() + i * 256;
      CHECK(std::max_element(row, row + 256) - row == drafts[i]);
    }
  }
}

TEST_CASE("a speculator returning logits of the wrong size is an error", "[spec][errors]") {
  class Malformed final : public mimo::Speculator {
   public:
    std::string name() const override { return "malformed"; }
    int max_draft() const override { return 3; }
    std::vector<std::int32_t> propose(const std::vector<std::int32_t>&, int) override { return {}; }
    int draft_logits(const std::vector<std::int32_t>&, int, std::int32_t vocab,
                     std::vector<float>& logits) override {
      logits.assign(static_cast<std::size_t>(vocab) + 1, 0.0f);
      return 2;
    }
  };
  auto model = spec_test::load("tiny-bf16", 256, 8, 1);
  mimo::SamplerConfig config;
  config.temperature = 1.0f;
  try {
    spec_test::generate(*model, {1, 2, 3}, 4, std::make_shared<Malformed>(), config);
    FAIL("no error for malformed draft logits");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kInvalidArgument);
  }
  // Greedy never asks for logits.
  CHECK(spec_test::generate(*model, {1, 2, 3}, 4, std::make_shared<Malformed>()).tokens.size() ==
        4);
}
