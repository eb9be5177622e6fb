// The exact distribution of the first generated tokens under plain sampling, by enumerating
// every continuation of a session (one fork per branch): the reference the sampled speculative
// tests compare their counts with.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "mimo/sampler.hpp"
#include "mimo/session.hpp"

namespace spec_test {

struct ExactTokens {
  std::vector<std::map<std::int32_t, double>> marginal;             // [index] token -> probability
  std::map<std::pair<std::int32_t, std::int32_t>, double> joint12;  // tokens 1 and 2 together
};

namespace detail {

inline void enumerate(mimo::Session& session, const mimo::Sampler& sampler, int depth,
                      double weight, ExactTokens& out, int level, std::int32_t token1) {
  std::vector<float> p;
  sampler.probabilities(session.logits().data(), static_cast<std::int32_t>(session.logits().size()),
                        p);
  for (std::int32_t t = 0; t < static_cast<std::int32_t>(p.size()); ++t) {
    if (p[t] <= 0) continue;
    const double w = weight * p[t];
    out.marginal[level][t] += w;
    if (level == 2) out.joint12[{token1, t}] += w;
    if (level + 1 < depth) {
      auto child = session.fork();
      child->prefill({t});
      mimo::Sampler next = sampler;
      next.accept(t);  // the penalty history plain decoding would have
      enumerate(*child, next, depth, w, out, level + 1, level == 1 ? t : token1);
    }
  }
}

}  // namespace detail

// Tokens 0 .. depth-1 generated after `session` (prompt already run) by plain sampling with
// `sampler` (its history already holding the prompt). Cost: one fork per branch, so only for
// distributions with a small support.
inline ExactTokens exact_tokens(mimo::Session& session, const mimo::Sampler& sampler, int depth) {
  ExactTokens out;
  out.marginal.resize(depth);
  detail::enumerate(session, sampler, depth, 1.0, out, 0, -1);
  return out;
}

}  // namespace spec_test
