// Router against a float64 reference written from the transformers code path.
#include "cpu/router.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "random_weights.hpp"
#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

using testing::Rng;

// get_topk_indices + weight computation of transformers' MiMo-V2 / DeepSeek-V3 MoE, in double.
Route reference_route(const std::vector<float>& logits, const std::vector<float>& bias,
                      const RouterParams& p) {
  const int n = p.n_experts, per_group = n / p.n_group;
  std::vector<double> s(n), choice(n);
  for (int e = 0; e < n; ++e) {
    s[e] = 1.0 / (1.0 + std::exp(-double(logits[e])));
    choice[e] = s[e] + bias[e];
  }
  std::vector<double> group_score(p.n_group);
  for (int g = 0; g < p.n_group; ++g) {
    std::vector<double> m(choice.begin() + g * per_group, choice.begin() + (g + 1) * per_group);
    std::sort(m.rbegin(), m.rend());
    group_score[g] = m[0] + (per_group > 1 ? m[1] : 0.0);
  }
  std::vector<int> groups(p.n_group);
  std::iota(groups.begin(), groups.end(), 0);
  std::sort(groups.begin(), groups.end(),
            [&](int a, int b) { return group_score[a] > group_score[b]; });
  std::set<int> kept(groups.begin(), groups.begin() + p.topk_group);
  for (int e = 0; e < n; ++e) {
    if (!kept.count(e / per_group)) choice[e] = -INFINITY;  // masked_fill(~mask, -inf)
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return choice[a] > choice[b]; });
  Route r;
  double sum = 0;
  for (int k = 0; k < p.top_k; ++k) sum += s[order[k]];
  for (int k = 0; k < p.top_k; ++k) {
    r.experts.push_back(order[k]);
    double w = s[order[k]];
    if (p.norm_topk_prob) w /= sum + 1e-20;
    r.weights.push_back(static_cast<float>(w * p.routed_scaling_factor));
  }
  return r;
}

TEST_CASE("route matches the reference selection and weights") {
  Rng rng(30);
  struct Config {
    int n_experts, top_k, n_group, topk_group;
    bool norm;
    double scaling;
    float bias_center;  // strongly negative: every choice < 0, masked experts must still lose
  };
  const Config configs[] = {
      {8, 2, 1, 1, true, 1.0, 0.0f},   {16, 4, 4, 2, true, 2.5, 0.0f},
      {16, 3, 4, 1, false, 1.0, 0.0f}, {12, 4, 3, 1, true, 1.0, -5.0f},
      {64, 8, 8, 3, true, 1.0, 0.0f},
  };
  for (const Config& c : configs) {
    RouterParams p{c.n_experts, c.top_k, c.n_group, c.topk_group, c.norm, c.scaling};
    for (int trial = 0; trial < 20; ++trial) {
      const std::vector<float> logits = testing::random_vector(rng, c.n_experts, 4.0f);
      std::vector<float> bias = testing::random_vector(rng, c.n_experts, 0.3f);
      for (float& b : bias) b += c.bias_center;
      const Route got = route(logits.data(), bias.data(), p);
      const Route want = reference_route(logits, bias, p);
      REQUIRE(got.experts.size() == want.experts.size());
      // Compare as sets: torch.topk(sorted=False) promises no order.
      std::set<int> got_set(got.experts.begin(), got.experts.end());
      std::set<int> want_set(want.experts.begin(), want.experts.end());
      REQUIRE(got_set == want_set);
      for (std::size_t k = 0; k < got.experts.size(); ++k) {
        const auto it = std::find(want.experts.begin(), want.experts.end(), got.experts[k]);
        const float w = want.weights[it - want.experts.begin()];
        CHECK(std::abs(got.weights[k] - w) <= 1e-6 * std::abs(w));
      }
    }
  }
}

TEST_CASE("route without bias picks the largest logits") {
  const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 3.0f, 0.5f, -2.0f};
  const Route r = route(logits.data(), nullptr, RouterParams{6, 2, 1, 1, false, 1.0});
  REQUIRE(r.experts == std::vector<int>{3, 1});
  CHECK(std::abs(r.weights[0] - 1.0 / (1.0 + std::exp(-3.0))) <= 1e-7);
}

}  // namespace
}  // namespace mimo::cpu
