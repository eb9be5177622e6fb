// The lookup-first speculator's choice of source (spec/lookup_first_speculator.hpp), step by
// step with a fake drafter and a fake clock: lookups are tried first (each length), then the
// drafter, then plain steps; then the source worth the most drafts and the others are probed
// after a gap that doubles while their probes lose; without a match the drafter or a plain step;
// a sampled step's second call stays with the first call's choice; the drafter's device
// interfaces are forwarded. (Exactness of its output through a session: lossless_test.cpp and
// sampled_verify_test.cpp.)
#include <memory>
#include <string>
#include <vector>

#include "mimo/error.hpp"
#include "spec/lookup_first_speculator.hpp"
#include "support/catch.hpp"

namespace {

using mimo::spec::LookupFirstSpeculator;

const std::vector<std::int32_t> kDrafterTokens = {900, 901, 902};
// The fixture's drafter drafts one token, so its lookups propose one token too.
const std::vector<std::int32_t> kDrafted = {900};
// "1 2 3" occurred before with "4 5 1" after it: a lookup matching 3 tokens.
const std::vector<std::int32_t> kRepeating = {1, 2, 3, 4, 5, 1, 2, 3};
// The last token never occurred before: no match.
const std::vector<std::int32_t> kFresh = {1, 2, 3, 4, 5, 6};

class FakeDrafter final : public mimo::Speculator, public mimo::exec::DeviceDraftDrawer {
 public:
  explicit FakeDrafter(int most = 3) : most_(most) {}
  std::string name() const override { return "fake"; }
  int max_draft() const override { return most_; }
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>&, int max_draft) override {
    REQUIRE(max_draft <= most_);
    ++proposals;
    return {kDrafterTokens.begin(), kDrafterTokens.begin() + max_draft};
  }
  int draft_logits(const std::vector<std::int32_t>&, int max_draft, std::int32_t vocab,
                   std::vector<float>& logits) override {
    ++logit_calls;
    logits.assign(static_cast<std::size_t>(max_draft) * vocab, 0.0f);
    return max_draft;
  }
  void observe(std::int64_t, const float*, std::int64_t rows) override { observed += rows; }
  void truncate(std::int64_t length) override { truncated_to = length; }

  bool draws_on_device() const override { return true; }
  std::vector<std::int32_t> draw_on_device(
      const std::vector<std::int32_t>&,
      const std::vector<mimo::exec::SampleRequest>& requests) override {
    REQUIRE(static_cast<int>(requests.size()) <= most_);
    ++device_draws;
    return {7, 7};
  }
  const void* device_proposal(int) const override { return this; }
  std::vector<float> proposals_to_host(int rows) const override {
    return std::vector<float>(rows, 0.5f);
  }

  int proposals = 0, logit_calls = 0, device_draws = 0;
  std::int64_t observed = 0, truncated_to = -1;

 private:
  int most_;
};

// What a step of one source gives: tokens kept (accepted drafts + the target's own), seconds.
struct Outcome {
  int kept;
  double seconds;
};

struct Fixture {
  std::shared_ptr<FakeDrafter> drafter = std::make_shared<FakeDrafter>(1);
  double now = 100.0;
  LookupFirstSpeculator spec{drafter, 3, 0, [this] { return now; }};

  // One greedy step on `context` in which every source gives `outcome`: the drafts.
  std::vector<std::int32_t> step(const std::vector<std::int32_t>& context, Outcome outcome) {
    return step(context, outcome, outcome, outcome);
  }
  // One greedy step whose outcome depends on the source the speculator chose: the drafts.
  std::vector<std::int32_t> step(const std::vector<std::int32_t>& context, Outcome lookup,
                                 Outcome drafter_outcome, Outcome none) {
    const auto before = spec.steps_by_source();
    std::vector<std::int32_t> drafts = spec.propose(context, 3);
    const auto& after = spec.steps_by_source();
    const Outcome o =
        after[LookupFirstSpeculator::kDrafter] > before[LookupFirstSpeculator::kDrafter]
            ? drafter_outcome
        : after[LookupFirstSpeculator::kNoDrafts] > before[LookupFirstSpeculator::kNoDrafts]
            ? none
            : lookup;
    now += o.seconds;
    spec.observe(static_cast<std::int64_t>(context.size()) - 1, nullptr, o.kept);
    return drafts;
  }
  // Eight greedy steps: the warm-up of the lookups and the drafter, then four plain steps.
  void warm_up(Outcome lookup, Outcome drafter_outcome, Outcome none) {
    for (int i = 0; i < 12; ++i) step(kRepeating, lookup, drafter_outcome, none);
  }
};

bool is_lookup(const std::vector<std::int32_t>& drafts) {
  return drafts == std::vector<std::int32_t>{4};
}

}  // namespace

TEST_CASE("lookup-first: lookups are tried first, then the drafter, then plain steps",
          "[spec][lookup]") {
  Fixture f;
  for (int i = 0; i < 4; ++i) CHECK(is_lookup(f.step(kRepeating, {2, 1.0})));
  for (int i = 0; i < 4; ++i) CHECK(f.step(kRepeating, {4, 1.0}) == kDrafted);
  for (int i = 0; i < 4; ++i) CHECK(f.step(kRepeating, {1, 1.0}).empty());
  const auto& steps = f.spec.steps_by_source();
  CHECK(steps[LookupFirstSpeculator::kDrafter] == 4);
  CHECK(steps[LookupFirstSpeculator::lookup_source(3, 0)] == 4);
  CHECK(steps[LookupFirstSpeculator::kNoDrafts] == 4);
  CHECK(f.spec.lookup_steps(1) + f.spec.lookup_steps(2) == 0);
  CHECK(f.spec.lookup_lengths() == std::vector<int>{1});
  CHECK(f.drafter->proposals == 4);
  CHECK(f.drafter->observed == 4 * 2 + 4 * 4 + 4);  // every observation reaches the drafter
  CHECK(f.spec.name() == "fake+lookup");
  CHECK(f.spec.summary() ==
        "steps by source: drafter 4 lookup3x1 4 plain 4; greedy drafter 4.00 tok/1000.000 ms "
        "lookup3x1 2.00 tok/1000.000 ms plain 1.00 tok/1000.000 ms");
  CHECK(f.spec.max_draft() == 1);
}

// After the warm-up's 12 decisions; the losers' first probes come 16 decisions after their
// warm-up steps (decision 20 at the earliest), so six steps see only the winner.
TEST_CASE("lookup-first: the source with more tokens a second drafts", "[spec][lookup]") {
  SECTION("lookups: 3 tokens in 1 s against the drafter's 4 in 2 s and plain steps' 1 in 0.8 s") {
    Fixture f;
    f.warm_up({3, 1.0}, {4, 2.0}, {1, 0.8});
    for (int i = 0; i < 6; ++i) CHECK(is_lookup(f.step(kRepeating, {3, 1.0}, {4, 2.0}, {1, 0.8})));
  }
  SECTION("the drafter: 4 tokens in 2 s against lookups' 1.5 in 1 s") {
    Fixture f;
    f.warm_up({1, 1.0}, {4, 2.0}, {1, 0.8});
    for (int i = 0; i < 6; ++i) CHECK(f.step(kRepeating, {1, 1.0}, {4, 2.0}, {1, 0.8}) == kDrafted);
  }
  SECTION("plain steps: 1 token in 0.2 s against the drafter's 4 in 2 s and lookups' 2 in 1 s") {
    Fixture f;
    f.warm_up({2, 1.0}, {4, 2.0}, {1, 0.2});
    for (int i = 0; i < 6; ++i) CHECK(f.step(kRepeating, {2, 1.0}, {4, 2.0}, {1, 0.2}).empty());
  }
  SECTION("no earlier occurrence: the drafter or a plain step, whatever lookups gave") {
    Fixture f;
    f.warm_up({3, 1.0}, {2, 2.0}, {1, 0.8});
    CHECK(f.step(kFresh, {3, 1.0}, {2, 2.0}, {1, 0.8}).empty());
    Fixture g;
    g.warm_up({3, 1.0}, {8, 2.0}, {1, 0.8});
    CHECK(g.step(kFresh, {3, 1.0}, {8, 2.0}, {1, 0.8}) == kDrafted);
  }
}

TEST_CASE("lookup-first: the losing source is probed, less often while it keeps losing",
          "[spec][lookup]") {
  // Lookups win (4 a second); the drafter (1 a second) and plain steps (0.5) are probed.
  const Outcome lookup{4, 1.0}, drafter{2, 2.0}, none{1, 2.0};
  Fixture f;
  f.warm_up(lookup, drafter, none);
  std::vector<int> probes;
  for (int i = 0; i < 140; ++i) {
    if (f.step(kRepeating, lookup, drafter, none) == kDrafted) probes.push_back(i);
  }
  // The first probe comes once 16 decisions passed since the drafter's last step; each lost
  // probe doubles the wait (16, 32, 64).
  REQUIRE(probes.size() >= 3);
  CHECK(probes[1] - probes[0] == 32);
  CHECK(probes[2] - probes[1] == 64);
  // A probe that wins brings the next one back to 16 decisions.
  Fixture g;
  g.warm_up(lookup, drafter, none);
  std::vector<int> drafted;
  for (int i = 0; i < 60; ++i) {
    // The drafter's probes now give 4 tokens in 1.1 s: worth more than the lookups' step less a
    // quarter of its time's worth.
    if (g.step(kRepeating, lookup, {4, 1.1}, none) == kDrafted) drafted.push_back(i);
  }
  REQUIRE(drafted.size() >= 2);
  CHECK(drafted[1] - drafted[0] <= 17);
}

TEST_CASE("lookup-first: a sampled step's second call keeps its first call's choice",
          "[spec][lookup]") {
  Fixture f;
  std::vector<float> rows;
  // Warm-up picks a lookup first: draft_logits declines (no distribution), propose gives it.
  CHECK(f.spec.draft_logits(kRepeating, 3, 1000, rows) == 0);
  CHECK(is_lookup(f.spec.propose(kRepeating, 3)));
  CHECK(f.spec.lookup_steps(3) == 1);  // one step, one decision
  f.spec.observe(7, nullptr, 1);
  // On the device: a lookup step declines the draw, and propose gives the lookup.
  const std::vector<mimo::exec::SampleRequest> requests(1);
  CHECK(f.spec.draws_on_device());
  CHECK(f.spec.draw_on_device(kRepeating, requests).empty());
  CHECK(is_lookup(f.spec.propose(kRepeating, 3)));
  CHECK(f.drafter->device_draws == 0);
  f.spec.observe(7, nullptr, 1);
  // Two more sampled lookups (the warm-up's four), then the drafter's steps: its rows, draws.
  for (int i = 0; i < 2; ++i) {
    CHECK(f.spec.draft_logits(kRepeating, 3, 1000, rows) == 0);
    CHECK(is_lookup(f.spec.propose(kRepeating, 3)));
    f.spec.observe(7, nullptr, 1);
  }
  CHECK(f.spec.draft_logits(kRepeating, 3, 1000, rows) == 1);
  CHECK(rows.size() == 1000u);
  f.spec.observe(7, nullptr, 1);
  CHECK(f.spec.draw_on_device(kRepeating, requests) == std::vector<std::int32_t>{7, 7});
  CHECK(f.spec.device_proposal(0) == f.drafter.get());
  CHECK(f.spec.proposals_to_host(2) == std::vector<float>{0.5f, 0.5f});
  CHECK(f.drafter->logit_calls == 1);
  CHECK(f.drafter->device_draws == 1);
}

TEST_CASE("lookup-first: observations of other positions do not count as the step's",
          "[spec][lookup]") {
  Fixture f;
  CHECK(is_lookup(f.spec.propose(kRepeating, 3)));  // a lookup step, then an observation of
  f.spec.observe(0, nullptr, 5);                    // other positions (a prefill's)
  f.spec.truncate(0);                               // a new conversation: the step is dropped
  CHECK(f.drafter->truncated_to == 0);
  // Neither counted as a lookup sample: the warm-up still takes four lookups (had one counted,
  // the fourth step here would be the drafter's).
  for (int i = 0; i < 4; ++i) CHECK(is_lookup(f.step(kRepeating, {4, 1.0})));
  CHECK(f.step(kRepeating, {1, 1.0}) == kDrafted);
}

TEST_CASE("lookup-first: lookups may propose more than the drafter drafts", "[spec][lookup]") {
  auto drafter = std::make_shared<FakeDrafter>();
  double now = 0;
  LookupFirstSpeculator spec(drafter, 2, 10, [&now] { return now += 1.0; });
  CHECK(spec.max_draft() == 10);
  CHECK(spec.picks_draft_counts());
  CHECK(spec.lookup_lengths() == std::vector<int>{1, 3, 10});
  // "1 2" last occurred two tokens before: the loop "1 2" goes on (NgramSpeculator). Each length
  // is tried in turn, shortest first.
  const std::vector<std::int32_t> loop = {1, 2, 1, 2, 1, 2};
  const std::vector<std::int32_t> ten = {1, 2, 1, 2, 1, 2, 1, 2, 1, 2};
  for (int length : {1, 3, 10}) {
    for (int i = 0; i < 4; ++i) {
      CHECK(spec.propose(loop, 10) == std::vector<std::int32_t>(ten.begin(), ten.begin() + length));
      spec.observe(5, nullptr, 1);
    }
  }
  CHECK(spec.lookup_steps(2) == 12);
  CHECK(spec.steps_by_source()[LookupFirstSpeculator::lookup_source(2, 2)] == 4);
  // The drafter's turn: asked for its own most, not the step's 10.
  CHECK(spec.propose(loop, 10) == kDrafterTokens);
  spec.observe(5, nullptr, 1);
  // A sampled step without a match: the drafter draws from its own most requests.
  const std::vector<mimo::exec::SampleRequest> requests(10);
  CHECK(spec.draw_on_device(kFresh, requests) == std::vector<std::int32_t>{7, 7});
  CHECK(spec.steps_by_source()[LookupFirstSpeculator::kDrafter] == 2);
  // A step with room for 3 has no longer lookups to choose: 1 and 3, then the drafter.
  LookupFirstSpeculator short_steps(drafter, 2, 10, [&now] { return now += 1.0; });
  for (std::size_t length : {1u, 1u, 1u, 1u, 3u, 3u, 3u, 3u}) {
    CHECK(short_steps.propose(loop, 3).size() == length);
    short_steps.observe(5, nullptr, 1);
  }
  CHECK(short_steps.propose(loop, 3) == kDrafterTokens);
  CHECK_THROWS_AS(LookupFirstSpeculator(drafter, 2, -1), mimo::Error);
}

TEST_CASE("n-gram lookups continue a loop past the context's end", "[spec][lookup]") {
  mimo::spec::NgramSpeculator ngram(3, 7);
  // "5 6 7" occurred at 1..3 followed by "8 9": the tokens since then (8 9 5 6 7) repeat.
  const std::vector<std::int32_t> context = {4, 5, 6, 7, 8, 9, 5, 6, 7};
  const auto found = ngram.lookup(context, 7);
  CHECK(found.match == 3);
  CHECK(found.tokens == std::vector<std::int32_t>{8, 9, 5, 6, 7, 8, 9});
  // A match far back proposes what followed it only.
  const std::vector<std::int32_t> far = {1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 1, 2};
  CHECK(ngram.propose(far, 4) == std::vector<std::int32_t>{3, 10, 11, 12});
  CHECK(ngram.propose({1, 2, 3}, 4).empty());  // nothing occurred before
}

TEST_CASE("lookup-first: a null drafter or a lookup length outside 1..8 is an error",
          "[spec][lookup][errors]") {
  CHECK_THROWS_AS(LookupFirstSpeculator(nullptr, 3), mimo::Error);
  CHECK_THROWS_AS(LookupFirstSpeculator(std::make_shared<FakeDrafter>(), 0), mimo::Error);
  CHECK_THROWS_AS(LookupFirstSpeculator(std::make_shared<FakeDrafter>(), 9), mimo::Error);
  CHECK_THROWS_AS(mimo::make_lookup_first_speculator(nullptr), mimo::Error);
  CHECK_NOTHROW(LookupFirstSpeculator(std::make_shared<FakeDrafter>(), 8));
}
