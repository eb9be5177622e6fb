// verify_sampled (speculative_verify.hpp).
#include "api/speculative_verify.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mimo {

SampleResult verify_sampled(Sampler& sampler, const float* logits, std::int32_t vocab,
                            std::int32_t draft, std::vector<float>& p) {
  sampler.probabilities(logits, vocab, p);
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
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

}  // namespace mimo
