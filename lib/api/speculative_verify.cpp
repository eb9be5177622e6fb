// verify_sampled and verify_against_proposal (speculative_verify.hpp).
#include "api/speculative_verify.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "mimo/error.hpp"

namespace mimo {

namespace {

double sum(const float* x, std::size_t n) {
  return std::accumulate(x, x + n, 0.0);
}

// The token with its log-probability (and the top list) under P = p / total.
SampleResult result_from(const Sampler& sampler, const std::vector<float>& p, double total,
                         std::int32_t token) {
  SampleResult result;
  result.token = token;
  result.logprob = static_cast<float>(std::log(p[token] / total));
  const int top = sampler.config().top_logprobs;
  if (top > 0) {
    std::vector<std::int32_t> order(p.size());
    std::iota(order.begin(), order.end(), 0);
    const auto n = std::min<std::size_t>(top, order.size());
    std::partial_sort(
        order.begin(), order.begin() + n, order.end(),
        [&](std::int32_t a, std::int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    for (std::size_t i = 0; i < n && p[order[i]] > 0; ++i) {
      result.top_logprobs.emplace_back(order[i], static_cast<float>(std::log(p[order[i]] / total)));
    }
  }
  return result;
}

}  // namespace

SampleResult verify_sampled(Sampler& sampler, const float* logits, std::int32_t vocab,
                            std::int32_t draft, std::vector<float>& p) {
  sampler.probabilities(logits, vocab, p);
  const double total = sum(p.data(), p.size());
  std::int32_t token = -1;
  if (draft >= 0) {
    const float p_draft = p[draft];
    const float coin[2] = {p_draft, static_cast<float>(std::max(0.0, total - p_draft))};
    if (sampler.sample_from(coin, 2) == 0) {
      token = draft;
    } else {
      p[draft] = 0.0f;
      token = sampler.sample_from(p);
      p[draft] = p_draft;
    }
  } else {
    token = sampler.sample_from(p);
  }
  return result_from(sampler, p, total, token);
}

SampleResult verify_against_proposal(Sampler& sampler, const float* logits, std::int32_t vocab,
                                     std::int32_t draft, const float* q, std::vector<float>& p,
                                     std::vector<float>& residual) {
  sampler.probabilities(logits, vocab, p);
  const double p_total = sum(p.data(), p.size());
  const double q_total = sum(q, p.size());
  const double p_draft = p[draft] / p_total, q_draft = q[draft] / q_total;
  if (!(q_draft > 0.0)) {
    throw Error(ErrorCode::kInternal, "speculative verify: the draft has proposal probability 0");
  }
  // Weights {min(P, q), q - P} at the draft: accepted with probability min(1, P / q).
  const float coin[2] = {static_cast<float>(std::min(p_draft, q_draft)),
                         static_cast<float>(std::max(0.0, q_draft - p_draft))};
  if (sampler.sample_from(coin, 2) == 0) return result_from(sampler, p, p_total, draft);
  // Rejected (so q(draft) > P(draft)): the residual holds exactly the mass P has beyond q.
  residual.resize(p.size());
  bool any = false;
  for (std::size_t x = 0; x < p.size(); ++x) {
    residual[x] = static_cast<float>(std::max(0.0, p[x] / p_total - q[x] / q_total));
    any = any || residual[x] > 0.0f;
  }
  // Only rounding can reject with no residual mass left (P equals q up to float error); drawing
  // from P then errs by that rounding alone.
  const std::int32_t token = sampler.sample_from(any ? residual : p);
  return result_from(sampler, p, p_total, token);
}

}  // namespace mimo
