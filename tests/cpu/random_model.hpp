// Test helper: a small random MiMo-V2 model held in memory (no checkpoint file), with every
// feature of the architecture and a mix of storage formats, plus exact weight values.
#pragma once

#include <memory>
#include <vector>

#include "model/config.hpp"
#include "model/weights.hpp"
#include "random_weights.hpp"

namespace mimo::cpu::testing {

struct RandomModel {
  model::ModelConfig config;
  model::ModelWeights weights;  // points into the owned storage below
  std::vector<std::unique_ptr<OwnedLinear>> linears;
  std::vector<std::unique_ptr<OwnedVector>> vectors;
};

// 4 layers: 0 full + dense, 1 and 2 sliding (window 4, sinks, 2x kv heads) + MoE, 3 full + MoE.
// hidden 64, 4 heads, head_dim 24 (rotary 8), v_head_dim 16, 8 experts top-2 in 2 groups (1
// kept), vocab 97. q FP8 (16x16 blocks), k BF16, v F32, o BF16, dense MLP FP8 (32x32 blocks),
// experts MXFP4, router F32, embeddings / lm_head BF16. head_dim / rotary_dim may be changed
// (e.g. MiMo's 64-dim partial RoPE, which the GPU's attention kernel applies itself).
std::unique_ptr<RandomModel> make_random_model(std::uint64_t seed, int head_dim = 24,
                                               int rotary_dim = 8);

}  // namespace mimo::cpu::testing
