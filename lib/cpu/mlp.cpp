// Gated MLP and MoE combine.
#include "cpu/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "cpu/dot.hpp"
#include "cpu/linear.hpp"

namespace mimo::cpu {

void gated_mlp(ThreadPool& pool, const model::ExpertWeights& mlp, const float* h, int n_tokens,
               float* out) {
  const std::int64_t inter = mlp.gate.rows;
  std::vector<float> gate(n_tokens * inter), up(n_tokens * inter);
  linear(pool, mlp.gate, h, n_tokens, gate.data());
  linear(pool, mlp.up, h, n_tokens, up.data());
  for (std::size_t i = 0; i < gate.size(); ++i) {
    const float silu = gate[i] / (1.0f + std::exp(-gate[i]));
    gate[i] = silu * up[i];
  }
  linear(pool, mlp.down, gate.data(), n_tokens, out);
}

void moe(ThreadPool& pool, std::span<const model::ExpertWeights> experts,
         std::span<const Route> routes, const float* h, int n_tokens, std::int64_t hidden,
         float* out) {
  struct Assignment {
    int token;
    float weight;
  };
  std::map<int, std::vector<Assignment>> by_expert;  // ordered: ascending expert id
  for (int t = 0; t < n_tokens; ++t) {
    for (std::size_t k = 0; k < routes[t].experts.size(); ++k) {
      by_expert[routes[t].experts[k]].push_back({t, routes[t].weights[k]});
    }
  }
  std::fill(out, out + n_tokens * hidden, 0.0f);
  std::vector<float> batch, result;
  for (const auto& [expert, assigned] : by_expert) {
    const int n = static_cast<int>(assigned.size());
    batch.resize(n * hidden);
    result.resize(n * hidden);
    for (int i = 0; i < n; ++i) {
      std::copy_n(h + assigned[i].token * hidden, hidden, batch.data() + i * hidden);
    }
    gated_mlp(pool, experts[expert], batch.data(), n, result.data());
    for (int i = 0; i < n; ++i) {
      float* y = out + assigned[i].token * hidden;
      const float* e = result.data() + i * hidden;
      // transformers scales the expert output, then index_adds it.
      for (std::int64_t c = 0; c < hidden; ++c) y[c] += e[c] * assigned[i].weight;
    }
  }
}

}  // namespace mimo::cpu
