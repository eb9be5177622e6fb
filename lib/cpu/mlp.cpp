// Gated MLP and MoE combine.
#include "cpu/mlp.hpp"

#include <algorithm>
#include <cmath>

#include "cpu/dot.hpp"
#include "cpu/linear.hpp"

namespace mimo::cpu {
namespace {

// gate <- silu(gate) * up, element by element (the order never matters here).
void silu_times(float* gate, const float* up, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float silu = gate[i] / (1.0f + std::exp(-gate[i]));
    gate[i] = silu * up[i];
  }
}

}  // namespace

void gated_mlp(ThreadPool& pool, const model::ExpertWeights& mlp, const float* h, int n_tokens,
               float* out) {
  const std::int64_t inter = mlp.gate.rows;
  std::vector<float> gate(n_tokens * inter), up(n_tokens * inter);
  const LinearJob gate_up[] = {{&mlp.gate, h, n_tokens, gate.data()},
                               {&mlp.up, h, n_tokens, up.data()}};
  linear_batch(pool, gate_up);
  silu_times(gate.data(), up.data(), gate.size());
  linear(pool, mlp.down, gate.data(), n_tokens, out);
}

// Every selected expert runs its gated MLP on its tokens as gated_mlp() does, but the experts'
// gate and up products go to the pool as one batch and their down products as another: a verify
// step of 8 tokens selects up to 16 experts, and per-expert dispatches dominated its time.
void moe(ThreadPool& pool, std::span<const model::ExpertWeights> experts,
         std::span<const Route> routes, const float* h, int n_tokens, std::int64_t hidden,
         float* out) {
  struct Assignment {
    int token;
    float weight;
  };
  std::vector<std::vector<Assignment>> by_expert(experts.size());
  for (int t = 0; t < n_tokens; ++t) {
    for (std::size_t k = 0; k < routes[t].experts.size(); ++k) {
      by_expert[routes[t].experts[k]].push_back({t, routes[t].weights[k]});
    }
  }
  // Per selected expert, in ascending id: where its tokens' rows start in batch (and in result,
  // which has the same shape) and its gate / up rows in gate and up.
  struct Slot {
    int expert, n;
    std::size_t batch, gate;
  };
  std::vector<Slot> slots;
  std::size_t batch_size = 0, gate_size = 0;
  for (std::size_t e = 0; e < by_expert.size(); ++e) {
    const int n = static_cast<int>(by_expert[e].size());
    if (n == 0) continue;
    slots.push_back({static_cast<int>(e), n, batch_size, gate_size});
    batch_size += std::size_t(n) * hidden;
    gate_size += std::size_t(n) * experts[e].gate.rows;
  }
  std::vector<float> batch(batch_size), gate(gate_size), up(gate_size), result(batch_size);
  std::vector<LinearJob> jobs;
  for (const Slot& s : slots) {
    for (int i = 0; i < s.n; ++i) {
      std::copy_n(h + by_expert[s.expert][i].token * hidden, hidden,
                  batch.data() + s.batch + i * hidden);
    }
    const model::ExpertWeights& w = experts[s.expert];
    jobs.push_back({&w.gate, batch.data() + s.batch, s.n, gate.data() + s.gate});
    jobs.push_back({&w.up, batch.data() + s.batch, s.n, up.data() + s.gate});
  }
  linear_batch(pool, jobs);
  silu_times(gate.data(), up.data(), gate.size());
  jobs.clear();
  for (const Slot& s : slots) {
    jobs.push_back({&experts[s.expert].down, gate.data() + s.gate, s.n, result.data() + s.batch});
  }
  linear_batch(pool, jobs);
  std::fill(out, out + n_tokens * hidden, 0.0f);
  for (const Slot& s : slots) {
    for (int i = 0; i < s.n; ++i) {
      const Assignment& a = by_expert[s.expert][i];
      float* y = out + a.token * hidden;
      const float* e = result.data() + s.batch + i * hidden;
      // transformers scales the expert output, then index_adds it.
      for (std::int64_t c = 0; c < hidden; ++c) y[c] += e[c] * a.weight;
    }
  }
}

}  // namespace mimo::cpu
