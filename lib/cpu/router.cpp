// Router selection.
#include "cpu/router.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mimo::cpu {
namespace {

// Indices of the k largest values, largest first; equal values keep the lower index first.
std::vector<int> top_k_indices(const std::vector<float>& values, int k) {
  std::vector<int> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return values[a] > values[b]; });
  order.resize(k);
  return order;
}

}  // namespace

Route route(const float* logits, const float* bias, const RouterParams& params) {
  const int n = params.n_experts;
  std::vector<float> scores(n), choice(n);
  for (int e = 0; e < n; ++e) {
    scores[e] = 1.0f / (1.0f + std::exp(-logits[e]));
    choice[e] = scores[e] + (bias ? bias[e] : 0.0f);
  }
  if (params.n_group > 1 && params.topk_group < params.n_group) {
    const int per_group = n / params.n_group;
    std::vector<float> group_scores(params.n_group);
    for (int g = 0; g < params.n_group; ++g) {
      std::vector<float> members(choice.begin() + g * per_group,
                                 choice.begin() + (g + 1) * per_group);
      const std::vector<int> best = top_k_indices(members, std::min(2, per_group));
      float sum = 0.0f;
      for (int i : best) sum += members[i];
      group_scores[g] = sum;
    }
    std::vector<bool> kept(params.n_group, false);
    for (int g : top_k_indices(group_scores, params.topk_group)) kept[g] = true;
    for (int e = 0; e < n; ++e) {
      if (!kept[e / per_group]) choice[e] = -INFINITY;
    }
  }
  Route r;
  r.experts = top_k_indices(choice, params.top_k);
  r.weights.resize(params.top_k);
  float sum = 0.0f;
  for (int i = 0; i < params.top_k; ++i) {
    r.weights[i] = scores[r.experts[i]];
    sum += r.weights[i];
  }
  for (float& w : r.weights) {
    if (params.norm_topk_prob) w /= sum + 1e-20f;
    w *= static_cast<float>(params.routed_scaling_factor);
  }
  return r;
}

}  // namespace mimo::cpu
