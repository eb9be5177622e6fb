// How many tokens a speculative step drafts. A verify pass of k + 1 tokens costs more than a
// plain step, and the drafter costs something too; drafting pays only when the tokens a step is
// expected to produce outweigh its time. Where verify passes are cheap (a GPU, memory-bound)
// that is the most drafts; where they scale with the tokens (a CPU, compute-bound) it may be
// fewer, or none. The chooser measures both sides as the session runs and picks the count with
// the most expected tokens per second (docs/speculative.md, "Draft length").
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "mimo/speculator.hpp"
#include "spec/step_time.hpp"

namespace mimo {

// Thread-safe (each call takes the chooser's lock): sessions share one per speculator.
class DraftLengthChooser {
 public:
  // Draft counts 0..max_draft (0: a plain step; the speculator still observes it).
  explicit DraftLengthChooser(int max_draft);

  int max_draft() const { return max_draft_; }  // fixed at construction

  // The next step's draft count. Steps are mostly the count with the best estimate; now and
  // then a probe tries another count in turn so that every estimate stays measured.
  int choose();

  // A finished step: `drafted` tokens proposed, the first `accepted` kept, the drafter and the
  // verify pass together took `seconds`.
  void record(int drafted, int accepted, double seconds);

  // Estimates, for reports and tests. Expected tokens a step of k drafts produces (1 + the
  // expected accepted drafts), from the acceptance rate measured at each draft position.
  double expected_tokens(int k) const;
  // Seconds a step of k drafts takes: its own measured mean, else a line through the measured
  // counts >= 1; nothing when no count >= 1 (or, for k = 0, no plain step) was measured yet.
  std::optional<double> step_seconds(int k) const;

 private:
  int best() const;
  double expected_tokens_locked(int k) const;
  std::optional<double> step_seconds_locked(int k) const;

  mutable std::mutex mutex_;
  const int max_draft_;
  std::int64_t steps_ = 0;
  int next_probe_ = 0;           // the count the next turn-based probe tries
  std::int64_t probes_ = 0;      // probes made after the early ones (every other: the most)
  int probing_ = -1;             // the count of the step in flight when it is a probe
  std::int64_t probe_gap_ = 32;  // steps from one probe to the next (after the first 64)
  std::int64_t next_probe_step_ = 64;
  // Decayed counts, index i = draft position 1..max_draft: steps whose drafts 1..i-1 were all
  // accepted and that drafted i (reached), and those of them that accepted draft i.
  std::vector<double> reached_, accepted_;
  std::vector<spec::StepTime> timing_;  // per draft count 0..max_draft
};

// The choosers of a model's sessions, one per speculator: a session that binds a speculator
// starts from what earlier sessions measured with it (the same target, device and drafter), so
// short conversations need not learn it anew. Thread-safe.
class DraftLengthBook {
 public:
  // The chooser of `speculator` for counts 0..max_draft; a new one when it had none yet or its
  // range differs (a session with another max_step_tokens).
  std::shared_ptr<DraftLengthChooser> chooser(const std::shared_ptr<Speculator>& speculator,
                                              int max_draft);

 private:
  struct Entry {
    std::weak_ptr<Speculator> owner;  // expired entries are dropped at the next lookup
    const Speculator* key;
    std::shared_ptr<DraftLengthChooser> chooser;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace mimo
