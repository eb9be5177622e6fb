// Prompt lookup first, the drafter where lookup guesses badly (see lookup_first_speculator.hpp).
#include "spec/lookup_first_speculator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "mimo/error.hpp"

namespace mimo::spec {

namespace {

constexpr int kWarmSamples = 4;   // steps a source drafts before it is compared
constexpr int kMeanSamples = 16;  // plain mean up to here, then a moving average
constexpr std::int64_t kFirstProbeGap = 16;
constexpr std::int64_t kLongestProbeGap = 512;
// A probe lost clearly (the next probe of its source waits twice as long) when its step was
// worth less than the winner's by this share of what the winner's time is worth.
constexpr double kLostProbe = 0.25;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int checked_n(int n) {
  if (n < 1 || n > LookupFirstSpeculator::kMaxMatch) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("lookup-first speculator: n = {} must be in [1, {}]", n,
                            LookupFirstSpeculator::kMaxMatch));
  }
  return n;
}

const std::shared_ptr<Speculator>& checked_drafter(const std::shared_ptr<Speculator>& drafter) {
  if (drafter == nullptr) {
    throw Error(ErrorCode::kInvalidArgument, "lookup-first speculator: the drafter is null");
  }
  return drafter;
}

int lookup_draft(int max_lookup_draft, const Speculator& drafter) {
  if (max_lookup_draft < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("lookup-first speculator: max_lookup_draft = {} must be >= 0 (0: the "
                            "drafter's most)",
                            max_lookup_draft));
  }
  return std::max(1, max_lookup_draft > 0 ? max_lookup_draft : drafter.max_draft());
}

}  // namespace

void LookupFirstSpeculator::Estimate::add(double step_tokens, double step_seconds) {
  const double weight = 1.0 / static_cast<double>(std::min(time.samples + 1, kMeanSamples));
  tokens += weight * (step_tokens - tokens);
  time.add(step_seconds, weight);
}

LookupFirstSpeculator::LookupFirstSpeculator(std::shared_ptr<Speculator> drafter, int n,
                                             int max_lookup_draft, Clock clock)
    : drafter_(checked_drafter(drafter)),
      drafter_taps_(dynamic_cast<exec::DeviceTapsReader*>(drafter_.get())),
      drafter_draws_(dynamic_cast<exec::DeviceDraftDrawer*>(drafter_.get())),
      lookup_(checked_n(n), lookup_draft(max_lookup_draft, *drafter_)),
      clock_(clock ? std::move(clock) : Clock(steady_seconds)) {
  probe_gap_.fill(kFirstProbeGap);
  const int most = lookup_.max_draft();
  for (int length : {1, 3, std::min(most, drafter_->max_draft()), most}) {
    if (length <= most && (lengths_.empty() || length > lengths_.back()))
      lengths_.push_back(length);
  }
}

std::int64_t LookupFirstSpeculator::lookup_steps(int match) const {
  std::int64_t steps = 0;
  for (int j = 0; j < kLengths; ++j) steps += steps_by_source_[lookup_source(match, j)];
  return steps;
}

// A source's worth for one step: the tokens it keeps less what its time is worth at the rate
// the speculator runs at overall. Maximising this step by step maximises the long-run rate
// (tokens over time summed); comparing the sources' own rates would not: at 11 tokens a
// millisecond, a lookup keeping 1.5 tokens in 0.32 ms (4.7 a ms) beats a drafter keeping 4 in
// 0.61 ms (6.6 a ms), because the drafter's extra 0.29 ms would have made 3.2 tokens elsewhere.
double LookupFirstSpeculator::worth(const Estimate& source, const Estimate& overall) {
  return source.tokens - overall.rate() * source.seconds();
}

int LookupFirstSpeculator::choose(int match, int max_draft, bool sampled) {
  ++decisions_;
  open_probe_ = false;
  const Estimates& e = estimates_[sampled ? 1 : 0];
  const Estimate& overall = overall_[sampled ? 1 : 0];
  // The candidates in warm-up order: lookups first (they cost no drafting, so learning what they
  // give is cheap), then the drafter, then a plain step.
  int candidates[kLengths + 2], count = 0;
  if (match > 0) {
    // Lengths up to the step's room; one longer than the room would propose the same tokens.
    for (int j = 0; j < static_cast<int>(lengths_.size()); ++j) {
      if (j == 0 || lengths_[j - 1] < max_draft) candidates[count++] = lookup_source(match, j);
    }
  }
  candidates[count++] = kDrafter;
  candidates[count++] = kNoDrafts;
  for (int i = 0; i < count; ++i) {
    if (e[candidates[i]].samples() < kWarmSamples) return candidates[i];
  }
  int winner = candidates[0];
  for (int i = 1; i < count; ++i) {
    if (worth(e[candidates[i]], overall) > worth(e[winner], overall)) winner = candidates[i];
  }
  for (int i = 0; i < count; ++i) {
    const int loser = candidates[i];
    if (loser != winner && decisions_ - last_chosen_[loser] >= probe_gap_[loser]) {
      open_probe_ = true;
      // The probe loses clearly when its step is worth less than the winner's by a quarter of
      // what the winner's time is worth.
      open_bar_ = worth(e[winner], overall) - kLostProbe * overall.rate() * e[winner].seconds();
      return loser;
    }
  }
  return winner;
}

void LookupFirstSpeculator::open_step(const std::vector<std::int32_t>& context, int max_draft,
                                      bool sampled) {
  if (open_ && context.size() == open_size_ && context.back() == open_last_) return;
  NgramSpeculator::Lookup found = lookup_.lookup(context, max_draft);
  open_source_ = choose(found.match, max_draft, sampled);
  last_chosen_[open_source_] = decisions_;
  ++steps_by_source_[open_source_];
  open_ = true;
  open_size_ = context.size();
  open_last_ = context.back();
  open_sampled_ = sampled;
  open_lookup_ = std::move(found.tokens);
  open_start_ = clock_();
}

void LookupFirstSpeculator::finish_step(std::int64_t first_position, std::int64_t rows) {
  if (!open_ || first_position != static_cast<std::int64_t>(open_size_) - 1 || rows <= 0) return;
  open_ = false;
  const double seconds = std::max(clock_() - open_start_, 1e-9);
  const int mode = open_sampled_ ? 1 : 0;
  if (open_probe_) {
    std::int64_t& gap = probe_gap_[open_source_];
    const double step_worth = static_cast<double>(rows) - overall_[mode].rate() * seconds;
    gap = step_worth < open_bar_ ? std::min(2 * gap, kLongestProbeGap) : kFirstProbeGap;
  }
  estimates_[mode][open_source_].add(static_cast<double>(rows), seconds);
  overall_[mode].add(static_cast<double>(rows), seconds);
}

void LookupFirstSpeculator::observe(std::int64_t first_position, const float* features,
                                    std::int64_t rows) {
  finish_step(first_position, rows);
  drafter_->observe(first_position, features, rows);
}

void LookupFirstSpeculator::truncate(std::int64_t length) {
  open_ = false;
  drafter_->truncate(length);
}

int LookupFirstSpeculator::lookup_length(int source) const {
  return lengths_[(source - 1) % kLengths];
}

std::vector<std::int32_t> LookupFirstSpeculator::propose(const std::vector<std::int32_t>& context,
                                                         int max_draft) {
  if (context.empty() || max_draft <= 0) return {};
  open_step(context, max_draft, false);
  if (open_source_ == kNoDrafts) return {};
  if (open_source_ == kDrafter) return drafter_->propose(context, drafter_room(max_draft));
  std::vector<std::int32_t> drafts = open_lookup_;
  const int length = std::min(max_draft, lookup_length(open_source_));
  if (static_cast<int>(drafts.size()) > length) drafts.resize(length);
  return drafts;
}

int LookupFirstSpeculator::draft_logits(const std::vector<std::int32_t>& context, int max_draft,
                                        std::int32_t vocab_size, std::vector<float>& logits) {
  if (context.empty() || max_draft <= 0) return 0;
  open_step(context, max_draft, true);
  if (open_source_ != kDrafter) return 0;  // propose() gives the lookup's tokens (one-hot) or none
  return drafter_->draft_logits(context, drafter_room(max_draft), vocab_size, logits);
}

bool LookupFirstSpeculator::accepts_device_taps() const {
  return drafter_taps_ != nullptr && drafter_taps_->accepts_device_taps();
}

void LookupFirstSpeculator::observe_device(std::int64_t first_position,
                                           const exec::DeviceTaps& taps, std::int64_t rows) {
  finish_step(first_position, rows);
  if (drafter_taps_ == nullptr) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("lookup-first speculator: '{}' does not read device taps", drafter_->name()));
  }
  drafter_taps_->observe_device(first_position, taps, rows);
}

bool LookupFirstSpeculator::draws_on_device() const {
  return drafter_draws_ != nullptr && drafter_draws_->draws_on_device();
}

std::vector<std::int32_t> LookupFirstSpeculator::draw_on_device(
    const std::vector<std::int32_t>& context, const std::vector<exec::SampleRequest>& requests) {
  if (context.empty() || requests.empty() || drafter_draws_ == nullptr) return {};
  open_step(context, static_cast<int>(requests.size()), true);
  if (open_source_ != kDrafter) return {};  // the session then asks propose(): a lookup or none
  const int room = drafter_room(static_cast<int>(requests.size()));
  if (room == static_cast<int>(requests.size())) {
    return drafter_draws_->draw_on_device(context, requests);
  }
  return drafter_draws_->draw_on_device(context, {requests.begin(), requests.begin() + room});
}

const void* LookupFirstSpeculator::device_proposal(int row) const {
  return drafter_draws_ != nullptr ? drafter_draws_->device_proposal(row) : nullptr;
}

std::vector<float> LookupFirstSpeculator::proposals_to_host(int rows) const {
  return drafter_draws_ != nullptr ? drafter_draws_->proposals_to_host(rows) : std::vector<float>{};
}

std::string LookupFirstSpeculator::summary() const {
  std::string out = "steps by source:";
  const auto name = [this](int source) {
    return source == kDrafter    ? std::string("drafter")
           : source == kNoDrafts ? std::string("plain")
                                 : fmt::format("lookup{}x{}", (source - 1) / kLengths + 1,
                                               lengths_[(source - 1) % kLengths]);
  };
  for (int source = 0; source <= kNoDrafts; ++source) {
    if (steps_by_source_[source] > 0)
      out += fmt::format(" {} {}", name(source), steps_by_source_[source]);
  }
  for (int mode = 0; mode < 2; ++mode) {
    if (overall_[mode].samples() == 0) continue;
    out += mode == 0 ? "; greedy" : "; sampled";
    for (int source = 0; source <= kNoDrafts; ++source) {
      const Estimate& e = estimates_[mode][source];
      if (e.samples() > 0) {
        out += fmt::format(" {} {:.2f} tok/{:.3f} ms", name(source), e.tokens, 1e3 * e.seconds());
      }
    }
  }
  return out;
}

}  // namespace mimo::spec
