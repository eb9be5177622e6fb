// The draft-length chooser: acceptance per draft position and time per draft count, both
// measured, combined into expected tokens per second.
#include "api/draft_length.hpp"

#include <algorithm>

namespace mimo {
namespace {

// Chosen values, not tuned ones. Probes: counts 0 and 1 at steps 8, 16, 24 and 32 (so the line
// through the counts is known early; probing every count every 8th step cost 7% of a 256-token
// GPU run where the most drafts are best), then every 32nd step the most drafts and one count in
// turn, alternately. A probe whose outcome is clearly worse than the best count's expected rate
// (under kClearlyWorse of it) doubles the gap to the next one, up to every 256th step; one that
// does as well as the best's estimate or better brings the next one 8 steps on (the estimate may
// be stale: the text turned easier); others keep 32. A steady choice is re-checked rarely, a
// close or changing one often.
// Old evidence fades: acceptance counts by 0.5% an observation of their position, times by 20% a
// sample.
constexpr std::int64_t kEarlySteps = 40;  // probes at steps 8, 16, 24, 32
constexpr std::int64_t kEarlyProbe = 8;
constexpr std::int64_t kProbe = 32;
constexpr std::int64_t kMaxProbe = 256;
constexpr double kClearlyWorse = 0.8;
constexpr double kCountDecay = 0.995;
// A count's time estimate (spec::StepTime): the fastest of its first 8 samples, then a weighted
// mean taking 20% of each sample (at most twice the estimate: one late stall moves it by at most
// 20%).
constexpr double kTimeWeight = 0.2;

}  // namespace

DraftLengthChooser::DraftLengthChooser(int max_draft)
    : max_draft_(std::max(0, max_draft)),
      reached_(max_draft_ + 1, 0.0),
      accepted_(max_draft_ + 1, 0.0),
      timing_(max_draft_ + 1) {}

int DraftLengthChooser::choose() {
  std::lock_guard lock(mutex_);
  const std::int64_t step = steps_++;
  const int chosen = best();
  probing_ = -1;
  if (max_draft_ == 0 || step == 0) return chosen;
  if (step < kEarlySteps) {
    if (step % kEarlyProbe != 0) return chosen;
    // Early probes measure a plain step and one draft, twice each: with the most drafts (the
    // first steps' count) they give the line through the counts; the middle ones come later.
    const int early = static_cast<int>(step / kEarlyProbe - 1) % 2;
    probing_ = early == chosen ? -1 : early;
    return early == chosen ? chosen : early;
  }
  if (step < next_probe_step_) return chosen;
  next_probe_step_ = step + probe_gap_;
  // Every other probe drafts the most: it is the one that measures every position's acceptance,
  // which changes with the text (a count that drafts less learns nothing of the later positions).
  // The others visit 0, 1, ..., max_draft in turn. Neither probes the count that is best now.
  int probe = max_draft_;
  if (probes_++ % 2 == 1 || chosen == max_draft_) {
    probe = next_probe_;
    if (probe == chosen) probe = (probe + 1) % (max_draft_ + 1);
    next_probe_ = (probe + 1) % (max_draft_ + 1);
  }
  probing_ = probe;
  return probe;
}

void DraftLengthChooser::record(int drafted, int accepted, double seconds) {
  std::lock_guard lock(mutex_);
  drafted = std::clamp(drafted, 0, max_draft_);
  accepted = std::clamp(accepted, 0, drafted);
  // Draft i is judged only when drafts 1..i-1 were all accepted; a position's old evidence
  // fades as new evidence for it comes (not with time: counts the steps rarely reach keep).
  for (int i = 1; i <= std::min(drafted, accepted + 1); ++i) {
    reached_[i] = reached_[i] * kCountDecay + 1.0;
    accepted_[i] = accepted_[i] * kCountDecay + (i <= accepted ? 1.0 : 0.0);
  }
  timing_[drafted].add(seconds, kTimeWeight);
  if (probing_ < 0 || steps_ <= kEarlySteps) return;
  // After a probe: how far its own outcome (tokens it gave over its time) is from the best
  // count's expected rate decides when the next one comes. The probe's outcome, not the blended
  // estimate: when the text turns easier, old evidence still drags the estimate down, and a
  // probe judged by it would push the next one away just when it is needed.
  const int top = best();
  const std::optional<double> top_seconds = step_seconds_locked(top);
  const bool clearly_worse =
      top_seconds && seconds > 0.0 &&
      (accepted + 1) / seconds < kClearlyWorse * expected_tokens_locked(top) / *top_seconds;
  // A probe as good as the best's estimate (or better) says the estimate may be stale: look
  // again soon.
  const bool competes = top_seconds && seconds > 0.0 &&
                        (accepted + 1) / seconds >= expected_tokens_locked(top) / *top_seconds;
  probe_gap_ = clearly_worse ? std::min(2 * probe_gap_, kMaxProbe)
               : competes    ? kEarlyProbe
                             : kProbe;
  next_probe_step_ = steps_ - 1 + probe_gap_;
  probing_ = -1;
}

double DraftLengthChooser::expected_tokens(int k) const {
  std::lock_guard lock(mutex_);
  return expected_tokens_locked(k);
}

std::optional<double> DraftLengthChooser::step_seconds(int k) const {
  std::lock_guard lock(mutex_);
  return step_seconds_locked(k);
}

double DraftLengthChooser::expected_tokens_locked(int k) const {
  k = std::clamp(k, 0, max_draft_);
  double tokens = 1.0, all_accepted = 1.0;
  for (int i = 1; i <= k; ++i) {
    // Laplace's rule: an unseen position counts as an even chance.
    all_accepted *= (accepted_[i] + 1.0) / (reached_[i] + 2.0);
    tokens += all_accepted;
  }
  return tokens;
}

std::optional<double> DraftLengthChooser::step_seconds_locked(int k) const {
  k = std::clamp(k, 0, max_draft_);
  if (timing_[k].samples >= 1) return timing_[k].seconds;
  if (k == 0) return std::nullopt;  // a plain step has no drafter cost: not on the line
  // Least squares over the measured counts >= 1; the slope is kept >= 0 (more drafts never
  // cost less; a negative fitted slope is noise).
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (int c = 1; c <= max_draft_; ++c) {
    if (timing_[c].samples < 1) continue;
    n += 1;
    sx += c;
    sy += timing_[c].seconds;
    sxx += double(c) * c;
    sxy += c * timing_[c].seconds;
  }
  if (n == 0) return std::nullopt;
  if (n == 1) return sy;  // one measured count: assume the others cost the same
  const double slope = std::max(0.0, (n * sxy - sx * sy) / (n * sxx - sx * sx));
  const double intercept = (sy - slope * sx) / n;
  return std::max(intercept + slope * k, 1e-9);
}

int DraftLengthChooser::best() const {
  int best = max_draft_;
  double best_rate = -1.0;
  for (int k = 0; k <= max_draft_; ++k) {
    const std::optional<double> seconds = step_seconds_locked(k);
    if (!seconds) continue;
    const double rate = expected_tokens_locked(k) / *seconds;
    if (rate > best_rate) {
      best_rate = rate;
      best = k;
    }
  }
  return best;
}

std::shared_ptr<DraftLengthChooser> DraftLengthBook::chooser(
    const std::shared_ptr<Speculator>& speculator, int max_draft) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [](const Entry& e) { return e.owner.expired(); });
  for (Entry& e : entries_) {
    if (e.key != speculator.get()) continue;
    if (e.chooser->max_draft() != max_draft)
      e.chooser = std::make_shared<DraftLengthChooser>(max_draft);
    return e.chooser;
  }
  entries_.push_back(
      Entry{speculator, speculator.get(), std::make_shared<DraftLengthChooser>(max_draft)});
  return entries_.back().chooser;
}

}  // namespace mimo
