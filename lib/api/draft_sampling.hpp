// Drafts drawn from a speculator's own distribution when sampling (docs/speculative.md,
// "Acceptance rule"): each draft comes from the speculator's logits row after the SAME transform
// the target's row gets (Sampler::probabilities: bias, penalties, temperature, top-k / top-p /
// min-p), so the verify step can accept it with probability min(1, p/q).
#pragma once

#include <cstdint>
#include <vector>

#include "mimo/sampler.hpp"

namespace mimo {

struct DrawnDrafts {
  std::vector<std::int32_t> tokens;
  std::vector<float> q;  // [tokens.size(), vocab]: the distribution each token was drawn from
};

// Draws one token from each of the `rows` rows of `logits` ([rows, vocab]). Row i's
// distribution sees the sampler's penalty history plus drafts 0..i-1, exactly the history the
// target's row for that position has if those drafts are accepted. Uses one generator value of
// `sampler` per draft and leaves its penalty history unchanged.
DrawnDrafts draw_drafts(Sampler& sampler, const std::vector<float>& logits, int rows,
                        std::int32_t vocab);

}  // namespace mimo
