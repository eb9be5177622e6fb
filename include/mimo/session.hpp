// mimo::Session: one conversation with a Model - its KV caches, position and statistics.
//
// Thread safety: a Session is used by one thread at a time. cancel() is the exception: it may
// be called from any thread, at any time, and makes the operation in progress (a long prefill
// included) stop at the next layer boundary. The Session stays usable afterwards: a cancelled
// prefill leaves the context exactly as it was before the call. With no operation in progress
// cancel() does nothing (it never cancels a later call).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "mimo/export.hpp"
#include "mimo/sampler.hpp"
#include "mimo/speculator.hpp"
#include "mimo/token_constraint.hpp"

namespace mimo {

class Model;

struct GenerateOptions {
  int max_tokens = 256;
  // Generation ends after emitting one of these (the token is reported to on_token first).
  // Empty: the model's end-of-sequence ids.
  std::vector<std::int32_t> stop_token_ids;
  bool ignore_eos = false;  // true: only max_tokens / the callback / cancel() end generation
  // Speculative decoding (include/mimo/speculator.hpp, docs/speculative.md): null = plain
  // decoding. The output is the same either way (greedy: token for token; sampling: the same
  // distribution, though a different random stream). The speculator is bound to this session
  // until another one is passed; it must not serve another session meanwhile.
  std::shared_ptr<Speculator> speculator;
  // How many tokens each speculative step drafts (docs/speculative.md, "Draft length").
  enum class DraftLength {
    // Greedy steps draft the count with the most expected tokens per second, from the step
    // times and acceptance measured so far (0 when speculation does not pay); the output does
    // not change. Sampled steps draft the most: a timing-driven count would change which
    // random values each token uses, so two runs with one seed could differ.
    kAdaptive,
    // kAdaptive for sampled steps too: faster, but seeded sampled runs may differ from run to
    // run (each still drawn from the exact distribution).
    kAdaptiveSampled,
    kMax,  // always the speculator's max_draft() (as far as the step and the context allow)
  };
  DraftLength draft_length = DraftLength::kAdaptive;
  // Constrained decoding (include/mimo/token_constraint.hpp, docs/sampling.md): null = none.
  // Every drawn token is masked by it and then passed to its accept(); generate() neither
  // resets it nor feeds it the prompt. With a constraint the tokens are sampled on the host
  // (never on the device, whatever ModelOptions::sample_on_device says), and speculative
  // decoding masks each verify row, so its output stays that of constrained plain decoding.
  std::shared_ptr<TokenConstraint> constraint;
};

// kConstraintComplete: the constraint's value was complete and it allowed no further token
// (and no stop token was available to end the answer).
enum class StopReason {
  kMaxTokens,
  kStopToken,
  kCallback,
  kCancelled,
  kContextFull,
  kConstraintComplete
};

struct GenerateResult {
  std::vector<std::int32_t> tokens;  // generated tokens (the prompt excluded)
  StopReason reason = StopReason::kMaxTokens;
};

// Speculative decoding statistics (accumulated over generate() calls with a speculator).
struct SpeculationStats {
  std::int64_t steps = 0;            // verify passes of the target
  std::int64_t drafted_tokens = 0;   // tokens proposed
  std::int64_t accepted_tokens = 0;  // proposed tokens the target kept
  std::int64_t emitted_tokens = 0;   // tokens the verify steps produced (accepted + bonus)
  // acceptance_histogram[n]: steps that produced n tokens (accepted drafts + the bonus token).
  std::vector<std::int64_t> acceptance_histogram;
  // draft_histogram[n]: steps that drafted n tokens (GenerateOptions::draft_length).
  std::vector<std::int64_t> draft_histogram;
  double draft_seconds = 0;   // in Speculator::propose / draft_logits + drawing drafts
  double verify_seconds = 0;  // target verify passes and acceptance
  // Parts of verify_seconds: the target's pass (Executor::run until its results are on the
  // host), and handing the kept rows' hidden states to the speculator (Speculator::observe);
  // the rest is the rows' acceptance, the rollback and the caller's token callbacks.
  double verify_pass_seconds = 0;
  double observe_seconds = 0;
  // Mean tokens per verify step, the bonus token included (1 = no draft ever accepted).
  double mean_acceptance_length() const {
    return steps > 0 ? static_cast<double>(emitted_tokens) / steps : 0;
  }
  double tokens_per_second() const {
    const double t = draft_seconds + verify_seconds;
    return t > 0 ? emitted_tokens / t : 0;
  }
};

struct SessionStats {
  std::int64_t prefill_tokens = 0;
  std::int64_t decode_tokens = 0;  // tokens produced by decoding (speculative steps included)
  double prefill_seconds = 0;
  double decode_seconds = 0;
  double time_to_first_token_seconds = 0;  // of the last generate(): call start -> first token
  SpeculationStats speculation;
  double prefill_tokens_per_second() const {
    return prefill_seconds > 0 ? prefill_tokens / prefill_seconds : 0;
  }
  double decode_tokens_per_second() const {
    return decode_seconds > 0 ? decode_tokens / decode_seconds : 0;
  }
};

// Return false to stop generation after this token. The callback may read the session (position,
// tokens, stats, fork) and cancel() it; any other call on it (prefill, generate, rewind, reset,
// ...) throws Error(kInvalidArgument), which generate() passes on.
using TokenCallback = std::function<bool(const SampleResult&)>;

class MIMO_API Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Appends tokens to the context and runs them through the model (in chunks of the model's
  // prefill_chunk_tokens, cancel() honoured between them), leaving the logits of the last one in
  // logits(). Throws mimo::Error:
  // kInvalidArgument for an empty list or an id outside the vocabulary, kOutOfRange when the
  // context would overflow, kCancelled when cancel() interrupted it (context unchanged).
  void prefill(const std::vector<std::int32_t>& tokens);

  // Logits [vocab] that the next token is sampled from (runs a pending generated or rewound
  // token first). Throws kInvalidArgument on an empty context, kNonFinite (naming the token's
  // context position) when they contain NaN or infinity.
  const std::vector<float>& logits();

  // Runs `tokens` (in chunks of the model's max_step_tokens) and returns the logits of every one
  // of them, [tokens.size() * vocab] (row-major). The tokens stay in the context. Throws kNonFinite
  // naming the context position of the first row with a NaN or infinity (the tokens stay in the
  // context then too).
  std::vector<float> score(const std::vector<std::int32_t>& tokens);

  // Samples one token from logits(), appends it to the context and runs it through the model.
  // Throws kOutOfRange when the context is full (before sampling: the sampler is unchanged).
  SampleResult step(Sampler& sampler);

  // Prefills `prompt` (may be empty to continue the context), then samples up to
  // options.max_tokens tokens, reporting each to on_token (may be empty) as it is produced.
  // Cancellation ends generation with StopReason::kCancelled (not an exception). The context
  // never grows past max_context: a full one ends generation with kContextFull (with no token
  // when it was full at the call). Non-finite logits throw kNonFinite, as logits() does.
  GenerateResult generate(const std::vector<std::int32_t>& prompt, Sampler& sampler,
                          const GenerateOptions& options = {}, const TokenCallback& on_token = {});

  // Interrupts the operation in progress from any thread (see the thread-safety note); does
  // nothing while idle.
  void cancel() noexcept;

  // Drops the last n tokens of the context (n <= position()); the next step continues from
  // there as if they had never been processed.
  void rewind(std::int64_t n_tokens);
  // An independent copy of this conversation (KV caches, tokens, statistics).
  std::unique_ptr<Session> fork() const;
  // Forgets the whole context and the statistics.
  void reset();

  std::int64_t position() const;                    // tokens in the context
  const std::vector<std::int32_t>& tokens() const;  // the context's token ids
  const SessionStats& stats() const;
  const Model& model() const;

  struct Impl;

 private:
  friend class Model;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mimo
