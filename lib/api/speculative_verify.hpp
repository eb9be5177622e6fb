// The host's decision of one speculative verify row when sampling (docs/speculative.md,
// "Acceptance rule"): the Session's fallback and the reference the device verification is
// tested against.
#pragma once

#include <cstdint>
#include <vector>

#include "mimo/sampler.hpp"

namespace mimo {

// With a deterministic (one-hot) proposal `draft` (-1: none, the bonus position): accepts the
// draft with probability P(draft) (one generator value), else draws from P with the draft
// removed (a second value). P = sampler.probabilities(logits); `p` is scratch. The emitted token
// is distributed exactly as P; logprob and top_logprobs are taken from P.
SampleResult verify_sampled(Sampler& sampler, const float* logits, std::int32_t vocab,
                            std::int32_t draft, std::vector<float>& p);

// With a draft drawn from the proposal distribution `q` (vocab floats, q[draft] > 0): accepts
// it with probability min(1, P(draft) / q(draft)) (one generator value), else draws from the
// residual normalise(max(0, P - q)) (a second value). The emitted token is distributed exactly
// as P; logprob and top_logprobs are taken from P. `p` and `residual` are scratch.
SampleResult verify_against_proposal(Sampler& sampler, const float* logits, std::int32_t vocab,
                                     std::int32_t draft, const float* q, std::vector<float>& p,
                                     std::vector<float>& residual);

}  // namespace mimo
