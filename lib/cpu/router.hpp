// The MiMo-V2 (DeepSeek-V3 "noaux_tc") MoE router: sigmoid scores, bias-corrected choice,
// group-limited top-k, weights from the uncorrected scores.
#pragma once

#include <cstdint>
#include <vector>

namespace mimo::cpu {

struct RouterParams {
  int n_experts = 0;
  int top_k = 0;
  int n_group = 1;
  int topk_group = 1;
  bool norm_topk_prob = true;
  double routed_scaling_factor = 1.0;
};

struct Route {
  std::vector<int> experts;    // top_k expert ids, by descending choice score
  std::vector<float> weights;  // their combine weights
};

// logits: [n_experts] router logits (float32) of one token; bias: [n_experts]
// e_score_correction_bias (null = zeros).
// s = sigmoid(logits); choice = s + bias; group score = sum of the two largest choices of the
// group; the best topk_group groups are kept and every other expert's choice becomes -inf
// (transformers' masked_fill(~mask, -inf)); top_k experts by choice; weight = s of the
// expert, divided by (sum + 1e-20) when norm_topk_prob, times routed_scaling_factor.
// Ties (as in torch.topk, which leaves them unspecified) go to the lower index.
Route route(const float* logits, const float* bias, const RouterParams& params);

}  // namespace mimo::cpu
