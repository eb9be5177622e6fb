// A float64 re-derivation of mimo::Sampler's final distribution, written straight from
// docs/sampling.md with a full sort (no partial sorts, no shared code with the library).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "mimo/sampler.hpp"

namespace mimo_test {

// Biased and penalised logits, in double. `history` is every accepted token, oldest first.
inline std::vector<double> penalised_logits(const std::vector<float>& logits,
                                            const mimo::SamplerConfig& c,
                                            const std::vector<std::int32_t>& history) {
  std::vector<double> l(logits.begin(), logits.end());
  for (const auto& [token, bias] : c.logit_bias) l[token] += bias;
  std::size_t first = 0;
  if (c.penalty_last_n == 0) first = history.size();
  if (c.penalty_last_n > 0 && history.size() > static_cast<std::size_t>(c.penalty_last_n)) {
    first = history.size() - c.penalty_last_n;
  }
  std::map<std::int32_t, int> counts;
  for (std::size_t i = first; i < history.size(); ++i) ++counts[history[i]];
  for (const auto& [token, count] : counts) {
    double& x = l[token];
    x = x > 0 ? x / c.repetition_penalty : x * c.repetition_penalty;
    x -= c.presence_penalty + static_cast<double>(c.frequency_penalty) * count;
  }
  return l;
}

inline std::vector<double> softmax_over(const std::vector<double>& l) {
  const double max = *std::max_element(l.begin(), l.end());
  std::vector<double> p(l.size());
  double sum = 0;
  for (std::size_t i = 0; i < l.size(); ++i) sum += p[i] = std::exp(l[i] - max);
  for (double& x : p) x /= sum;
  return p;
}

// The distribution sample() draws from (one-hot at the argmax for greedy).
inline std::vector<double> reference_distribution(const std::vector<float>& logits,
                                                  const mimo::SamplerConfig& c,
                                                  const std::vector<std::int32_t>& history) {
  const std::vector<double> l = penalised_logits(logits, c, history);
  const std::size_t n = l.size();
  std::vector<double> p(n, 0.0);
  if (c.temperature == 0.0f) {
    p[std::max_element(l.begin(), l.end()) - l.begin()] = 1.0;
    return p;
  }
  const double max = *std::max_element(l.begin(), l.end());
  std::vector<double> z(n);
  for (std::size_t i = 0; i < n; ++i) z[i] = (l[i] - max) / c.temperature;
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
  std::size_t kept = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (z[order[i]] == -std::numeric_limits<double>::infinity()) {
      kept = i;
      break;
    }
  }
  if (c.top_k > 0) kept = std::min(kept, static_cast<std::size_t>(c.top_k));
  if (c.top_p < 1.0f) {
    double total = 0;
    for (std::size_t i = 0; i < kept; ++i) total += std::exp(z[order[i]]);
    double mass = 0;
    for (std::size_t i = 0; i < kept; ++i) {
      mass += std::exp(z[order[i]]) / total;
      if (mass >= c.top_p) {
        kept = i + 1;
        break;
      }
    }
  }
  double total = 0;
  std::vector<bool> in(n, false);
  for (std::size_t i = 0; i < kept; ++i) {
    const std::size_t t = order[i];
    if (std::exp(z[t]) >= c.min_p) {  // p_t / p_max, since z of the max is 0
      in[t] = true;
      total += std::exp(z[t]);
    }
  }
  for (std::size_t t = 0; t < n; ++t) p[t] = in[t] ? std::exp(z[t]) / total : 0.0;
  return p;
}

}  // namespace mimo_test
