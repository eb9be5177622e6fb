// Partial rotary position embedding, neox style (transformers' rotate_half): on the first
// rotary_dim dims of each head, pairs (j, j + rotary_dim/2) rotate by angle pos * inv_freq[j];
// the remaining dims pass through.
#pragma once

#include <vector>

namespace mimo::cpu {

class Rope {
 public:
  // inv_freq from model::rope_inv_freq (float32, as transformers computes it).
  // frequency_dim: transformers' d (model/rope_table.hpp); rotates rope_rotary_dim(d) dims.
  Rope(int frequency_dim, double theta);

  int rotary_dim() const { return rotary_dim_; }
  const std::vector<float>& inv_freq() const { return inv_freq_; }

  // x: [n_heads, head_dim] of one token at position `pos`, rotated in place.
  void apply(float* x, int n_heads, int head_dim, long long pos) const;

 private:
  int rotary_dim_;
  std::vector<float> inv_freq_;
};

}  // namespace mimo::cpu
