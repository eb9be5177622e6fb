// Prompt lookup first, the drafter where lookup guesses badly (docs/speculative.md, "Lookup
// first"). Each step it finds the longest earlier occurrence of the conversation's last 1..n
// tokens (spec::NgramSpeculator) and proposes what followed it when that is expected to give
// more tokens a second than running the drafter; otherwise the drafter (DFlash) drafts. The
// expectation comes from the speculator's own measurements: tokens a step and seconds a step of
// each source (lookups by the length of their match), learned from the steps it proposed for.
//
// Output stays exact either way: the session verifies whatever is proposed. Lookup drafts have
// no distribution, so a sampled step that takes them is verified as a one-hot proposal.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "exec/device_drafts.hpp"
#include "exec/device_taps.hpp"
#include "mimo/speculator.hpp"
#include "spec/ngram_speculator.hpp"
#include "spec/step_time.hpp"

namespace mimo::spec {

class LookupFirstSpeculator final : public Speculator,
                                    public exec::DeviceTapsReader,
                                    public exec::DeviceDraftDrawer {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  static constexpr int kMaxMatch = 8;
  // Sources: the drafter; lookups that matched m = 1..n tokens proposing the length of index j
  // of lookup_lengths() (lookup_source(m, j)); no drafts.
  static constexpr int kLengths = 4;
  static constexpr int kDrafter = 0;
  static constexpr int lookup_source(int match, int length_index) {
    return 1 + (match - 1) * kLengths + length_index;
  }
  static constexpr int kNoDrafts = 1 + kMaxMatch * kLengths;
  static constexpr int kSources = kNoDrafts + 1;

  // drafter: the speculator drafting where lookups lose (its device interfaces are used where
  // it has them). n in [1, kMaxMatch]: the longest suffix looked up. max_lookup_draft: the most
  // tokens a lookup proposes (a lookup that matched a loop may be right far ahead; the drafter
  // still drafts its own most); 0: the drafter's. A lookup proposes 1, 3, the drafter's most or
  // max_lookup_draft tokens (those up to max_lookup_draft), chosen by the same measurements:
  // on a CPU a verify pass costs about a plain step a token, on a GPU little more for 16 tokens
  // than for 1. clock: tests; empty: a steady clock. Throws kInvalidArgument for a null drafter,
  // n out of range or a negative max_lookup_draft.
  LookupFirstSpeculator(std::shared_ptr<Speculator> drafter, int n, int max_lookup_draft = 15,
                        Clock clock = {});

  std::string name() const override { return drafter_->name() + "+lookup"; }
  // It picks each step's draft count itself (the lookup's length, the drafter's most, or none).
  bool picks_draft_counts() const override { return true; }
  int max_draft() const override { return std::max(drafter_->max_draft(), lookup_.max_draft()); }
  std::vector<int> feature_layers() const override { return drafter_->feature_layers(); }
  void observe(std::int64_t first_position, const float* features, std::int64_t rows) override;
  void truncate(std::int64_t length) override;
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                    int max_draft) override;
  int draft_logits(const std::vector<std::int32_t>& context, int max_draft, std::int32_t vocab_size,
                   std::vector<float>& logits) override;

  bool accepts_device_taps() const override;
  void observe_device(std::int64_t first_position, const exec::DeviceTaps& taps,
                      std::int64_t rows) override;
  bool draws_on_device() const override;
  std::vector<std::int32_t> draw_on_device(
      const std::vector<std::int32_t>& context,
      const std::vector<exec::SampleRequest>& requests) override;
  const void* device_proposal(int row) const override;
  std::vector<float> proposals_to_host(int rows) const override;
  // Steps by source and each source's tokens and milliseconds a step, greedy then sampled.
  std::string summary() const override;

  // Steps each source was chosen for, by source (kDrafter, lookup_source(m, j), kNoDrafts).
  const std::array<std::int64_t, kSources>& steps_by_source() const { return steps_by_source_; }
  // Steps of lookups that matched `match` tokens, any length.
  std::int64_t lookup_steps(int match) const;
  // The lengths a lookup may propose, shortest first.
  const std::vector<int>& lookup_lengths() const { return lengths_; }
  Speculator& drafter() { return *drafter_; }

 private:
  // What one source gave a step on average: tokens kept (accepted drafts + the target's own; a
  // mean over the first 16 steps, then a moving average) and seconds from the step's first call
  // here to its observation (StepTime, with the same weights).
  struct Estimate {
    double tokens = 0;
    StepTime time;
    int samples() const { return time.samples; }
    double seconds() const { return time.seconds; }
    double rate() const { return time.seconds > 0 ? tokens / time.seconds : 0; }
    void add(double tokens, double seconds);
  };
  // Estimates of one mode (greedy or sampled), by source.
  using Estimates = std::array<Estimate, kSources>;
  static double worth(const Estimate& source, const Estimate& overall);

  // The step `context` belongs to: a new one (its source decided) unless this call is the same
  // step's second (a draw declined on the device or rows the drafter does not have, then
  // propose()).
  void open_step(const std::vector<std::int32_t>& context, int max_draft, bool sampled);
  // Which source drafts a step of up to max_draft tokens whose lookup matched `match` tokens
  // (0: no match).
  int choose(int match, int max_draft, bool sampled);
  // The session kept `rows` tokens of the step whose anchor is at first_position.
  void finish_step(std::int64_t first_position, std::int64_t rows);
  int drafter_room(int max_draft) const { return std::min(max_draft, drafter_->max_draft()); }
  // Tokens a lookup of `source` proposes.
  int lookup_length(int source) const;

  std::shared_ptr<Speculator> drafter_;
  exec::DeviceTapsReader* drafter_taps_ = nullptr;
  exec::DeviceDraftDrawer* drafter_draws_ = nullptr;
  NgramSpeculator lookup_;
  Clock clock_;

  std::array<Estimates, 2> estimates_{};  // [sampled]
  std::array<Estimate, 2> overall_{};     // [sampled]: every step it proposed for
  std::vector<int> lengths_;              // lookup_lengths()
  std::array<std::int64_t, kSources> steps_by_source_{};
  std::array<std::int64_t, kSources> last_chosen_{};  // decision it was last chosen at
  std::array<std::int64_t, kSources> probe_gap_{};    // decisions a loser waits for a probe
  std::int64_t decisions_ = 0;

  // The step in flight, from its first call until the session observes its kept tokens.
  bool open_ = false;
  std::size_t open_size_ = 0;
  std::int32_t open_last_ = 0;
  bool open_sampled_ = false;
  int open_source_ = 0;
  bool open_probe_ = false;  // the source lost on its estimate: tried to see if that changed
  double open_bar_ = 0;      // then the worth below which the probe lost clearly
  double open_start_ = 0;
  std::vector<std::int32_t> open_lookup_;
};

}  // namespace mimo::spec
