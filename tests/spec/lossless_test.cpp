// Greedy speculative decoding is token-identical to plain greedy decoding: on every fixture, with
// the n-gram, DFlash, lookup-first DFlash and scripted speculators, over long runs that cross the
// sliding window many times; stop tokens inside a block, max_tokens, callbacks and cache rollback
// behave exactly.
#include <algorithm>

#include "mimo/error.hpp"
#include "spec/lookup_first_speculator.hpp"
#include "spec_test_support.hpp"

using spec_test::generate;
using spec_test::ScriptedSpeculator;

namespace {

const std::vector<std::string> kFixtures = {"tiny-bf16", "tiny-fp8", "tiny-mxfp4",
                                            "tiny-hub-fused"};

// Proposes the true continuation, cut short and corrupted on a varying schedule so that every
// acceptance length 0..max_draft (and the bonus token) occurs.
std::shared_ptr<ScriptedSpeculator> oracle(const std::vector<std::int32_t>& truth, int max_draft,
                                           int vocab) {
  auto step = std::make_shared<int>(0);
  return std::make_shared<ScriptedSpeculator>(
      [truth, step, max_draft, vocab](const std::vector<std::int32_t>& context, int limit) {
        const int s = (*step)++;
        const int correct = s % (max_draft + 1);
        std::vector<std::int32_t> out;
        for (int i = 0; i < limit; ++i) {
          const std::size_t at = context.size() + i;
          if (at >= truth.size()) break;
          out.push_back(i < correct ? truth[at] : (truth[at] + 1 + s) % vocab);
          if (i >= correct && s % 3 != 0) break;  // sometimes keep guessing past a miss
        }
        return out;
      },
      max_draft);
}

bool dflash_fits(const mimo::Model& model) {
  return model.summary().hidden_size == 64 && model.summary().num_layers == 5;
}

}  // namespace

TEST_CASE("greedy with a speculator equals plain greedy on every fixture", "[spec][lossless]") {
  for (const std::string& name : kFixtures) {
    INFO(name);
    auto model = spec_test::load(name);
    // tiny-hub-fused re-saves tiny-bf16's weights and shares its references.
    const std::string ref = name == "tiny-hub-fused" ? "tiny-bf16" : name;
    const auto prompt =
        spec_test::read_ids(spec_test::data("models/" + ref + "/reference/greedy_prompt.txt"));
    const auto reference =
        spec_test::read_ids(spec_test::data("models/" + ref + "/reference/greedy_output.txt"));
    const int n = 80;
    const auto plain = generate(*model, prompt, n).tokens;
    REQUIRE(plain.size() == static_cast<std::size_t>(n));
    REQUIRE(std::equal(reference.begin(), reference.end(), plain.begin()));
    std::vector<std::int32_t> truth = prompt;
    truth.insert(truth.end(), plain.begin(), plain.end());

    CHECK(generate(*model, prompt, n, mimo::make_ngram_speculator(3, 7)).tokens == plain);
    auto scripted = oracle(truth, 7, model->summary().vocab_size);
    mimo::SessionStats stats;
    CHECK(generate(*model, prompt, n, scripted, {}, &stats).tokens == plain);
    CHECK(stats.speculation.accepted_tokens > n / 3);
    if (dflash_fits(*model)) {
      auto dflash = mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter"));
      CHECK(generate(*model, prompt, n, dflash).tokens == plain);
      auto lookup_first = mimo::make_lookup_first_speculator(
          mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter")));
      CHECK(generate(*model, prompt, n, lookup_first).tokens == plain);
    }
  }
}

TEST_CASE("2000-token greedy runs with speculation equal plain greedy", "[spec][lossless]") {
  auto model = spec_test::load("tiny-bf16", 2100);
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  const int n = 2000;
  const auto plain = generate(*model, prompt, n).tokens;
  REQUIRE(plain.size() == static_cast<std::size_t>(n));
  std::vector<std::int32_t> truth = prompt;
  truth.insert(truth.end(), plain.begin(), plain.end());

  mimo::SessionStats stats;
  CHECK(generate(*model, prompt, n, mimo::make_ngram_speculator(4, 7), {}, &stats).tokens == plain);
  CHECK(stats.speculation.steps > 0);
  auto dflash = mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter"));
  CHECK(generate(*model, prompt, n, dflash, {}, &stats).tokens == plain);
  CHECK(stats.speculation.steps > 0);
  // Lookups and DFlash drafts in one run (the speculator measures both sources as it goes).
  auto lookup_first = std::make_shared<mimo::spec::LookupFirstSpeculator>(
      mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter")), 3);
  CHECK(generate(*model, prompt, n, lookup_first, {}, &stats).tokens == plain);
  CHECK(lookup_first->steps_by_source()[0] > 0);
  CHECK(lookup_first->lookup_steps(1) + lookup_first->lookup_steps(2) +
            lookup_first->lookup_steps(3) >
        0);
  CHECK(generate(*model, prompt, n, oracle(truth, 7, 256), {}, &stats).tokens == plain);
  CHECK(stats.speculation.mean_acceptance_length() > 2.0);
}

TEST_CASE("speculative statistics add up", "[spec][stats]") {
  auto model = spec_test::load("tiny-bf16");
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  const int n = 100;
  const auto plain = generate(*model, prompt, n).tokens;
  std::vector<std::int32_t> truth = prompt;
  truth.insert(truth.end(), plain.begin(), plain.end());
  mimo::SessionStats stats;
  REQUIRE(generate(*model, prompt, n, oracle(truth, 5, 256), {}, &stats).tokens == plain);
  const mimo::SpeculationStats& s = stats.speculation;
  std::int64_t steps = 0, emitted = 0;
  for (std::size_t k = 0; k < s.acceptance_histogram.size(); ++k) {
    steps += s.acceptance_histogram[k];
    emitted += static_cast<std::int64_t>(k) * s.acceptance_histogram[k];
  }
  CHECK(steps == s.steps);
  CHECK(emitted == s.emitted_tokens);
  CHECK(s.emitted_tokens == n - 1);  // the first token comes from the prefill logits
  CHECK(s.accepted_tokens <= s.drafted_tokens);
  CHECK(s.acceptance_histogram.size() <= 7u);  // at most 5 drafts + the bonus per step
  CHECK(s.acceptance_histogram[0] == 0);
  CHECK(s.mean_acceptance_length() > 1.5);
  CHECK(s.verify_seconds > 0);
  CHECK(s.verify_pass_seconds > 0);
  CHECK(s.observe_seconds > 0);
  CHECK(s.verify_pass_seconds + s.observe_seconds <= s.verify_seconds);
  CHECK(s.tokens_per_second() > 0);
}

TEST_CASE("adaptive draft lengths keep greedy output and their statistics add up",
          "[spec][lossless]") {
  auto model = spec_test::load("tiny-bf16");
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  const int n = 300;
  const auto plain = generate(*model, prompt, n).tokens;
  std::vector<std::int32_t> truth = prompt;
  truth.insert(truth.end(), plain.begin(), plain.end());
  using DraftLength = mimo::GenerateOptions::DraftLength;
  auto dflash = mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter"));
  for (auto speculator : std::vector<std::shared_ptr<mimo::Speculator>>{
           dflash, oracle(truth, 7, 256), mimo::make_ngram_speculator(3, 7),
           mimo::make_lookup_first_speculator(
               mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter")))}) {
    INFO(speculator->name());
    mimo::SessionStats stats;
    CHECK(generate(*model, prompt, n, speculator, {}, &stats, DraftLength::kAdaptive).tokens ==
          plain);
    const mimo::SpeculationStats& s = stats.speculation;
    std::int64_t steps = 0, drafted = 0;
    for (std::size_t k = 0; k < s.draft_histogram.size(); ++k) {
      steps += s.draft_histogram[k];
      drafted += static_cast<std::int64_t>(k) * s.draft_histogram[k];
    }
    CHECK(steps == s.steps);
    CHECK(drafted == s.drafted_tokens);
    CHECK(s.draft_histogram.size() <= 8u);  // at most max_draft = 7
    // Probes try other counts than the best: more than one count was drafted.
    CHECK(std::count_if(s.draft_histogram.begin(), s.draft_histogram.end(),
                        [](std::int64_t c) { return c > 0; }) >= 2);
  }
  // Sampled steps keep the most drafts under kAdaptive: seeded runs stay reproducible, the same
  // tokens and steps as kMax.
  mimo::SamplerConfig sampled;
  sampled.temperature = 0.8f;
  sampled.seed = 5;
  mimo::SessionStats adaptive_stats, max_stats;
  const auto adaptive =
      generate(*model, prompt, 60, dflash, sampled, &adaptive_stats, DraftLength::kAdaptive);
  const auto most = generate(*model, prompt, 60, dflash, sampled, &max_stats, DraftLength::kMax);
  CHECK(adaptive.tokens == most.tokens);
  CHECK(adaptive_stats.speculation.draft_histogram == max_stats.speculation.draft_histogram);
  CHECK(max_stats.speculation.draft_histogram.size() ==
        static_cast<std::size_t>(dflash->max_draft() + 1));
}

TEST_CASE("a speculator that picks its own draft counts is handed the most every step",
          "[spec][lossless]") {
  class Picking final : public mimo::Speculator {
   public:
    std::string name() const override { return "picking"; }
    int max_draft() const override { return 5; }
    bool picks_draft_counts() const override { return true; }
    std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                      int max_draft) override {
      rooms.push_back(max_draft);
      // One draft or none, whatever the room: the session's chooser would have learned to ask
      // for few, this speculator decides itself.
      return context.size() % 2 ? std::vector<std::int32_t>{7} : std::vector<std::int32_t>{};
    }
    std::vector<int> rooms;
  };
  auto model = spec_test::load("tiny-bf16");
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  const int n = 120;
  const auto plain = generate(*model, prompt, n).tokens;
  auto picking = std::make_shared<Picking>();
  CHECK(generate(*model, prompt, n, picking, {}, nullptr,
                 mimo::GenerateOptions::DraftLength::kAdaptive)
            .tokens == plain);
  REQUIRE(!picking->rooms.empty());
  // Every step's room is the most (5), but for the last steps before max_tokens.
  const auto full = std::count(picking->rooms.begin(), picking->rooms.end(), 5);
  CHECK(full >= static_cast<std::ptrdiff_t>(picking->rooms.size()) - 5);
}

TEST_CASE("stop tokens, max_tokens and callbacks inside an accepted block", "[spec][stop]") {
  auto model = spec_test::load("tiny-bf16");
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  const auto plain = generate(*model, prompt, 60).tokens;
  std::vector<std::int32_t> truth = prompt;
  truth.insert(truth.end(), plain.begin(), plain.end());
  // Always the whole true continuation: every stop lands inside an accepted block.
  auto perfect = [&truth] {
    return std::make_shared<ScriptedSpeculator>(
        [&truth](const std::vector<std::int32_t>& context, int limit) {
          std::vector<std::int32_t> out;
          for (int i = 0; i < limit && context.size() + i < truth.size(); ++i) {
            out.push_back(truth[context.size() + i]);
          }
          return out;
        },
        7);
  };

  SECTION("max_tokens is exact") {
    for (int n = 0; n <= 20; ++n) {
      const auto got = generate(*model, prompt, n, perfect()).tokens;
      CHECK(got == std::vector<std::int32_t>(plain.begin(), plain.begin() + n));
    }
  }
  SECTION("a stop token ends generation right after it") {
    for (int at : {1, 3, 6, 10, 17}) {
      const std::int32_t stop = plain[at];
      const auto first = std::find(plain.begin(), plain.end(), stop) - plain.begin();
      auto session = model->new_session();
      mimo::Sampler sampler(mimo::SamplerConfig{});
      mimo::GenerateOptions options;
      options.max_tokens = 50;
      options.stop_token_ids = {stop};
      options.speculator = perfect();
      int reported = 0;
      auto result = session->generate(prompt, sampler, options, [&](const mimo::SampleResult&) {
        ++reported;
        return true;
      });
      CHECK(result.reason == mimo::StopReason::kStopToken);
      CHECK(result.tokens == std::vector<std::int32_t>(plain.begin(), plain.begin() + first + 1));
      CHECK(reported == first + 1);
      CHECK(session->position() == static_cast<std::int64_t>(prompt.size() + first + 1));
      // The caches were rolled back to the emitted tokens: continuing matches plain decoding.
      options.stop_token_ids.clear();
      options.max_tokens = 10;
      auto more = session->generate({}, sampler, options).tokens;
      CHECK(more ==
            std::vector<std::int32_t>(plain.begin() + first + 1, plain.begin() + first + 11));
    }
  }
  SECTION("a callback returning false stops at its token") {
    for (int stop_after : {1, 2, 5, 9}) {
      auto session = model->new_session();
      mimo::Sampler sampler(mimo::SamplerConfig{});
      mimo::GenerateOptions options;
      options.max_tokens = 50;
      options.ignore_eos = true;
      options.speculator = perfect();
      int reported = 0;
      auto result = session->generate(prompt, sampler, options, [&](const mimo::SampleResult&) {
        return ++reported < stop_after;
      });
      CHECK(result.reason == mimo::StopReason::kCallback);
      CHECK(result.tokens == std::vector<std::int32_t>(plain.begin(), plain.begin() + stop_after));
    }
  }
  SECTION("plain decoding continues a speculative run exactly") {
    auto session = model->new_session();
    mimo::Sampler sampler(mimo::SamplerConfig{});
    mimo::GenerateOptions options;
    options.max_tokens = 23;
    options.ignore_eos = true;
    options.speculator = mimo::make_ngram_speculator(2, 5);
    auto first = session->generate(prompt, sampler, options).tokens;
    options.speculator = nullptr;
    options.max_tokens = 30;
    auto second = session->generate({}, sampler, options).tokens;
    first.insert(first.end(), second.begin(), second.end());
    CHECK(first == std::vector<std::int32_t>(plain.begin(), plain.begin() + 53));
  }
  SECTION("the context limit ends generation with kContextFull") {
    auto small = spec_test::load("tiny-bf16", 30);
    auto session = small->new_session();
    mimo::Sampler sampler(mimo::SamplerConfig{});
    mimo::GenerateOptions options;
    options.max_tokens = 50;
    options.ignore_eos = true;
    options.speculator = perfect();
    auto result = session->generate(prompt, sampler, options);
    CHECK(result.reason == mimo::StopReason::kContextFull);
    CHECK(session->position() == 30);
    CHECK(result.tokens == std::vector<std::int32_t>(plain.begin(), plain.begin() + 18));
  }
}

TEST_CASE("a speculator proposing ids outside the vocabulary is an error", "[spec][errors]") {
  auto model = spec_test::load("tiny-bf16");
  auto bad = std::make_shared<ScriptedSpeculator>(
      [](const std::vector<std::int32_t>&, int) {
        return std::vector<std::int32_t>{3, 256};
      },
      4);
  bool threw = false;
  try {
    generate(*model, {1, 2, 3}, 10, bad);
  } catch (const mimo::Error& e) {
    threw = e.code() == mimo::ErrorCode::kInvalidArgument &&
            std::string(e.what()).find("256") != std::string::npos;
  }
  CHECK(threw);
  CHECK_THROWS_AS(mimo::make_ngram_speculator(0, 3), mimo::Error);
}
