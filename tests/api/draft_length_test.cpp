// The draft-length chooser on simulated sessions: steps whose acceptance and time follow a known
// model, so the best count is known in closed form (expected tokens / step time). The chooser
// must settle on it, keep probing the others, and estimate both sides.
#include "api/draft_length.hpp"

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "support/catch.hpp"

namespace {

using mimo::DraftLengthChooser;

struct Simulated {
  std::function<double(int)> accept;   // P(draft i accepted | drafts 1..i-1 accepted)
  std::function<double(int)> seconds;  // a step of k drafts
};

// Runs `steps` steps; returns how many steps chose each count.
std::vector<int> simulate(DraftLengthChooser& chooser, const Simulated& model, int steps,
                          unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::vector<int> chosen(chooser.max_draft() + 1, 0);
  for (int s = 0; s < steps; ++s) {
    const int k = chooser.choose();
    REQUIRE(k >= 0);
    REQUIRE(k <= chooser.max_draft());
    ++chosen[k];
    int accepted = 0;
    while (accepted < k && coin(rng) < model.accept(accepted + 1)) ++accepted;
    // Timing noise of +-5%.
    chooser.record(k, accepted, model.seconds(k) * (0.95 + 0.1 * coin(rng)));
  }
  return chosen;
}

double closed_form_rate(const Simulated& model, int k) {
  double tokens = 1.0, all = 1.0;
  for (int i = 1; i <= k; ++i) tokens += (all *= model.accept(i));
  return tokens / model.seconds(k);
}

int closed_form_best(const Simulated& model, int max_draft) {
  int best = 0;
  for (int k = 1; k <= max_draft; ++k) {
    if (closed_form_rate(model, k) > closed_form_rate(model, best)) best = k;
  }
  return best;
}

// |value - expected| within `relative` of expected.
bool within(double value, double expected, double relative) {
  return std::abs(value - expected) <= relative * std::abs(expected);
}

// Steps after the first `skip` that chose `k`, as a fraction.
double share(const std::vector<int>& all_steps, const std::vector<int>& early, int k) {
  int total = 0;
  for (std::size_t i = 0; i < all_steps.size(); ++i) total += all_steps[i] - early[i];
  return double(all_steps[k] - early[k]) / total;
}

}  // namespace

TEST_CASE("draft length: compute-bound verify passes (a CPU) make plain steps the best") {
  // Plain 2.9 ms; drafting costs 5 ms plus 1 ms a verified token: 4.2 tokens in 15 ms at 7.
  const Simulated cpu{[](int) { return 0.8; },
                      [](int k) { return k == 0 ? 2.9e-3 : 5e-3 + 3e-3 + 1e-3 * k; }};
  REQUIRE(closed_form_best(cpu, 7) == 0);
  DraftLengthChooser chooser(7);
  DraftLengthChooser early_chooser(7);
  const std::vector<int> early = simulate(early_chooser, cpu, 64);
  const std::vector<int> all = simulate(chooser, cpu, 600);
  CHECK(share(all, early, 0) > 0.85);
  // The estimates it decided on.
  CHECK(within(chooser.step_seconds(0).value(), 2.9e-3, 0.06));
  CHECK(within(chooser.step_seconds(7).value(), 15e-3, 0.06));
  // The most drafts ran only in the first steps and a few probes: a rough estimate.
  CHECK(within(chooser.expected_tokens(7), closed_form_rate(cpu, 7) * 15e-3, 0.35));
}

TEST_CASE("draft length: memory-bound verify passes (a GPU) draft the most") {
  const Simulated gpu{[](int) { return 0.8; },
                      [](int k) { return k == 0 ? 0.2e-3 : 0.33e-3 + 0.2e-3 + 0.012e-3 * k; }};
  REQUIRE(closed_form_best(gpu, 7) == 7);
  DraftLengthChooser chooser(7), early_chooser(7);
  const std::vector<int> early = simulate(early_chooser, gpu, 64);
  const std::vector<int> all = simulate(chooser, gpu, 600);
  CHECK(share(all, early, 7) > 0.85);
}

TEST_CASE("draft length: slow warm-up steps do not hide the best count") {
  // A GPU session whose first steps of every count are 10x slower (graph captures of new
  // shapes: the verify block, each context-row count of the drafter): still the most drafts.
  std::vector<int> seen(8, 0);
  const Simulated warm{[](int) { return 0.8; },
                       [&seen](int k) {
                         const double t = k == 0 ? 0.2e-3 : 0.33e-3 + 0.2e-3 + 0.012e-3 * k;
                         return ++seen[k] <= 6 ? 10.0 * t : t;
                       }};
  DraftLengthChooser chooser(7);
  const std::vector<int> chosen = simulate(chooser, warm, 256);
  INFO("steps at 0: " << chosen[0] << ", at 7: " << chosen[7]);
  CHECK(chosen[7] > 0.8 * 256);
  // Once settled, a late stall moves the estimate by a bounded step.
  const double before = chooser.step_seconds(7).value();
  chooser.record(7, 7, 100 * before);
  CHECK(chooser.step_seconds(7).value() <= 1.2 * before + 1e-12);
}

TEST_CASE("draft length: acceptance that rises after a poor start is noticed") {
  // A fresh GPU session on text the drafter cannot guess at first (acceptance 0.45 for 30 steps:
  // plain steps are best), then can (0.92: the most drafts are 1.6x plain). The chooser must
  // leave plain steps within a 256-token run (mimo-bench's fresh runs settled on them).
  int step = 0;
  const Simulated shift{[&step](int) { return step < 40 ? 0.4 : 0.9; },
                        [&step](int k) {
                          ++step;
                          return k == 0 ? 0.21e-3 : 0.5e-3 + 0.017e-3 * k;
                        }};
  DraftLengthChooser chooser(7);
  const std::vector<int> first = simulate(chooser, shift, 96);
  const std::vector<int> rest = simulate(chooser, shift, 160);
  INFO("steps 96-256: at 0 " << rest[0] << ", at 7 " << rest[7]);
  CHECK(rest[7] > 0.6 * 160);
}

TEST_CASE("draft length: acceptance that falls off after a few drafts picks the middle") {
  const Simulated mid{[](int i) { return i <= 3 ? 0.9 : 0.1; },
                      [](int k) { return k == 0 ? 0.9e-3 : 1e-3 + 0.3e-3 * k; }};
  const int best = closed_form_best(mid, 7);
  REQUIRE(best == 3);
  DraftLengthChooser chooser(7), early_chooser(7);
  const std::vector<int> early = simulate(early_chooser, mid, 64);
  const std::vector<int> all = simulate(chooser, mid, 800);
  CHECK(share(all, early, best) > 0.75);
  // Measured acceptance: 1 + 0.9 + 0.81 + 0.729 tokens at three drafts.
  CHECK(within(chooser.expected_tokens(3), 3.439, 0.08));
}

TEST_CASE("draft length: it probes every count and keeps measuring after settling") {
  const Simulated cpu{[](int) { return 0.7; },
                      [](int k) { return k == 0 ? 1e-3 : 4e-3 + 1e-3 * k; }};
  DraftLengthChooser chooser(5);
  const std::vector<int> chosen = simulate(chooser, cpu, 2000);
  for (int k = 0; k <= 5; ++k) {
    INFO("count " << k);
    CHECK(chosen[k] >= 1);  // every count measured
  }
  // The first 8 steps at the most drafts (nothing else measured yet), probes of 0 and 1 at steps
  // 8-32, then gaps of 32, 64, 128, 256 steps as the probes lose clearly.
  INFO("steps not at 0: " << 2000 - chosen[0]);
  CHECK(2000 - chosen[0] >= 12);
  CHECK(2000 - chosen[0] <= 26);
}

TEST_CASE("draft length: estimates before and after the first measurements") {
  DraftLengthChooser chooser(7);
  CHECK(chooser.choose() == 7);  // nothing measured: the most drafts
  CHECK_FALSE(chooser.step_seconds(3).has_value());
  CHECK(chooser.expected_tokens(0) == 1.0);
  CHECK(within(chooser.expected_tokens(2), 1.75, 1e-9));  // unseen positions: even chances

  // A count's first samples: the fastest stands (a first run of a shape may include a
  // warm-up).
  chooser.record(7, 7, 1.0);
  REQUIRE(chooser.step_seconds(7).has_value());
  CHECK(within(*chooser.step_seconds(7), 1.0, 1e-9));
  chooser.record(7, 7, 2e-3);
  REQUIRE(chooser.step_seconds(7).has_value());
  CHECK(within(*chooser.step_seconds(7), 2e-3, 1e-9));
  CHECK(within(*chooser.step_seconds(2), 2e-3, 1e-9));  // one measured count: flat
  CHECK_FALSE(chooser.step_seconds(0).has_value());     // plain steps are never inferred

  // Two measured counts: a line through them, never sloping down.
  chooser.record(1, 1, 9.0);
  chooser.record(1, 1, 1e-3);
  CHECK(within(*chooser.step_seconds(4), 1e-3 + 1e-3 * 3.0 / 6.0, 1e-9));
  // Acceptance: every draft so far was accepted.
  CHECK(chooser.expected_tokens(1) > 1.5);

  DraftLengthChooser none(0);
  for (int s = 0; s < 40; ++s) {
    CHECK(none.choose() == 0);
    none.record(0, 0, 1e-3);
  }
}

TEST_CASE("draft length: clearly worse probes space the next ones out, close ones do not") {
  // Plain steps are far better: probes thin out to about one in 256 steps.
  const Simulated far{[](int) { return 0.5; },
                      [](int k) { return k == 0 ? 1e-3 : 6e-3 + 1e-3 * k; }};
  DraftLengthChooser settled(7);
  simulate(settled, far, 1000);
  const std::vector<int> later = simulate(settled, far, 2048, 8);
  const int probes = 2048 - later[0];
  INFO("probes in 2048 settled steps: " << probes);
  CHECK(probes <= 2048 / 128);
  CHECK(probes >= 2048 / 256 - 1);
  // Two counts within a few percent: probes stay every 32nd step.
  const Simulated close{[](int) { return 0.25; },
                        [](int k) { return k == 0 ? 1e-3 : 1.2e-3 + 0.05e-3 * k; }};
  DraftLengthChooser near(7);
  simulate(near, close, 1000);
  const std::vector<int> near_later = simulate(near, close, 2048, 9);
  const int best = closed_form_best(close, 7);
  const int near_probes = 2048 - near_later[best];
  INFO("best " << best << ", probes in 2048 steps: " << near_probes);
  CHECK(near_probes >= 2048 / 32 / 2);
}
