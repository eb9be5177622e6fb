// mimo::Speculator: the pluggable proposer of speculative decoding. A speculator guesses up to
// max_draft() tokens that follow the conversation; Session::generate verifies them in ONE target
// pass over [last token, drafts...], keeps the longest prefix the target agrees with plus one
// token of its own, and rolls every cache back past it (docs/speculative.md). Output is exactly
// what plain decoding gives: token-identical for greedy, the same distribution when sampling.
//
// Thread safety: a speculator keeps per-conversation state (DFlash: its context cache), so one
// instance serves one Session at a time; the Session calls it from the thread running generate().
// Use one speculator per concurrent session (a DFlash speculator maps its own drafter
// checkpoint; the target's embeddings and lm_head are shared, read-only).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mimo/export.hpp"

namespace mimo {

class Model;

class MIMO_API Speculator {
 public:
  virtual ~Speculator() = default;

  virtual std::string name() const = 0;
  // Most tokens propose() returns per step (a DFlash block size minus one).
  virtual int max_draft() const = 0;

  // Target decoder layers whose outputs this speculator reads for every token the target has
  // run (the last layer's entry is taken after the final norm); empty: none.
  virtual std::vector<int> feature_layers() const { return {}; }
  // Features of tokens the target ran and the session kept, at positions first_position ..
  // first_position + rows - 1: rows x (feature_layers().size() * hidden_size) floats, row-major,
  // the layers concatenated in feature_layers() order. Called in increasing position order.
  virtual void observe(std::int64_t first_position, const float* features, std::int64_t rows) {
    (void)first_position, (void)features, (void)rows;
  }
  // The session forgot every position >= length (rewind, reset, or a new conversation).
  virtual void truncate(std::int64_t length) { (void)length; }

  // Up to max_draft tokens to follow `context` (every token of the conversation; the target has
  // not yet run the last one). Fewer, or none, is fine; ids must be inside the vocabulary.
  virtual std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                            int max_draft) = 0;

  // Optional, used instead of propose() when sampling (temperature > 0): the speculator's logits
  // over the target vocabulary for up to max_draft positions after `context`, written to
  // `logits` as rows x vocab_size floats, row-major; returns the number of rows. The session
  // draws draft i from row i after the sampler's own transform (logit bias, penalties over the
  // history plus drafts 1..i-1, temperature, top-k / top-p / min-p) and accepts it with
  // probability min(1, p/q) (docs/speculative.md). Returning 0 (the default) means the
  // speculator has no distribution: propose()'s tokens are verified as one-hot proposals.
  virtual int draft_logits(const std::vector<std::int32_t>& context, int max_draft,
                           std::int32_t vocab_size, std::vector<float>& logits) {
    (void)context, (void)max_draft, (void)vocab_size, (void)logits;
    return 0;
  }

  // True: the speculator picks each step's draft count itself (proposing fewer than max_draft,
  // or none), so the session hands it the most every step instead of choosing a count with
  // GenerateOptions::DraftLength::kAdaptive.
  virtual bool picks_draft_counts() const { return false; }

  // A line on what the speculator did so far, for people (e.g. the lookup-first speculator's
  // steps by source); empty: nothing to say.
  virtual std::string summary() const { return {}; }
};

struct DFlashOptions {
  int block_size = 0;   // tokens per verify block (1 + drafts); 0: the drafter's block_size
  int num_threads = 0;  // drafter CPU threads, <= 1024; 0: the target model's setting
  // When sampling: true draws the drafts from the drafter's distribution (draft_logits, the
  // min(1, p/q) rule); false proposes its argmax, verified as a one-hot proposal. Either way the
  // output distribution is exact; only acceptance differs (docs/speculative.md, "Measured").
  // The GPU drafter honours it too (its logits rows are downloaded for the draw).
  bool sample_drafts = true;
};

// A DFlash block-diffusion drafter (directory with config.json + safetensors) for `target`: it
// shares the target's embeddings and lm_head. Throws mimo::Error (kInvalidArgument when the
// drafter does not fit the target: hidden size, target layer ids, mask token id; kInvalidFile /
// kUnsupported for bad checkpoints; kInvalidArgument when the block exceeds
// ModelOptions.max_step_tokens). The speculator keeps the Model alive.
MIMO_API std::shared_ptr<Speculator> make_dflash_speculator(const Model& target,
                                                            const std::string& drafter_dir,
                                                            const DFlashOptions& options = {});

// Prompt lookup: finds the most recent earlier occurrence of the context's last n tokens
// (falling back to shorter suffixes, down to 1) and proposes what followed it - past the
// context's end, the loop that match implies (the tokens since it, repeated). No weights.
MIMO_API std::shared_ptr<Speculator> make_ngram_speculator(int n = 3, int max_draft = 7);

// Prompt lookup first, `drafter` where lookup guesses badly: each step looks up the
// conversation's last 1..n tokens as make_ngram_speculator does and proposes what followed them
// when that is expected to give more tokens a second than the drafter, which drafts otherwise.
// The expectation is measured as it runs (tokens and seconds a step of each source, lookups by
// the length of their match), so on hardware where the drafter costs much (a CPU) lookups win
// more often; it also picks plain steps, and each step's draft count (picks_draft_counts()).
// Output stays exact; sampled steps with lookup drafts verify them as one-hot proposals.
// max_lookup_draft: the most tokens a lookup proposes (0: the drafter's most); when larger, a
// lookup may propose that many or the drafter's most, by the same measurements (long proposals
// pay where lookups match loops; a step proposes at most ModelOptions.max_step_tokens - 1).
// n in [1, 8]; throws kInvalidArgument otherwise, for a null drafter or a negative
// max_lookup_draft.
MIMO_API std::shared_ptr<Speculator> make_lookup_first_speculator(
    std::shared_ptr<Speculator> drafter, int n = 3, int max_lookup_draft = 15);

}  // namespace mimo
