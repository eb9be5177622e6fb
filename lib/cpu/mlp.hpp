// Feed-forward blocks: the SiLU-gated MLP (dense layer and each expert) and the MoE combine.
#pragma once

#include <span>
#include <vector>

#include "cpu/router.hpp"
#include "cpu/thread_pool.hpp"
#include "model/weights.hpp"

namespace mimo::cpu {

// out = down(silu(gate h) * up h); h: [n_tokens, hidden], out: [n_tokens, hidden].
void gated_mlp(ThreadPool& pool, const model::ExpertWeights& mlp, const float* h, int n_tokens,
               float* out);

// out[t] = sum over t's routes of weight * expert(h[t]). Tokens are grouped per expert so each
// selected expert's weights are decoded once per call, whatever the number of tokens; experts
// are visited in ascending id, which fixes each token's summation order.
void moe(ThreadPool& pool, std::span<const model::ExpertWeights> experts,
         std::span<const Route> routes, const float* h, int n_tokens, std::int64_t hidden,
         float* out);

}  // namespace mimo::cpu
