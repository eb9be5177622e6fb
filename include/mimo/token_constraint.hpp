// mimo::TokenConstraint: a hook that restricts which tokens Session::generate may produce
// (constrained decoding, e.g. JSON output: mimo/json_constraint.hpp). docs/sampling.md,
// "Constrained decoding", gives the exact semantics; in short, for every token generate() draws:
//
//   1. allowed = the constraint's allowed_tokens(), plus the stop tokens when complete();
//   2. the logits of every other token become -infinity, then the Sampler's chain runs as usual
//      (logit bias, penalties, temperature, top-k / top-p / min-p, softmax), so the distribution
//      is renormalised over the allowed tokens and log-probabilities are those of the masked row;
//   3. the drawn token, unless it is a stop token, is passed to accept().
//
// When nothing is allowed and complete() is true, generation ends with
// StopReason::kConstraintComplete (e.g. a finished JSON value with ignore_eos, or a model without
// stop tokens). Nothing allowed while not complete is an error (Error(kInvalidArgument)).
//
// Thread safety: a constraint is used by one generate() at a time; it keeps the state of one
// output and must not be shared between sessions generating at once.
#pragma once

#include <cstdint>
#include <vector>

#include "mimo/export.hpp"

namespace mimo {

class MIMO_API TokenConstraint {
 public:
  virtual ~TokenConstraint();

  // Marks the tokens that may come next: `allowed` arrives with vocab_size entries, all 0; set
  // allowed[t] = 1 for each permitted token t. Stop tokens need not be marked: the session
  // adds them whenever complete() is true.
  virtual void allowed_tokens(std::vector<std::uint8_t>& allowed) = 0;
  // Advances past a token that allowed_tokens() permitted (never a stop token the session added).
  virtual void accept(std::int32_t token) = 0;
  // True when the output so far is a complete value: the stop tokens are allowed then.
  virtual bool complete() const = 0;
};

}  // namespace mimo
