// The benchmark geometry of ../shared/docs/PERFORMANCE.md (benchmark_config.hpp).
#include "model/benchmark_config.hpp"

namespace mimo::model {

ModelConfig benchmark_config(int layers, int experts) {
  ModelConfig c;
  c.schema = "synthetic";
  c.architecture = "MiMoV2FlashForCausalLM";
  c.vocab_size = 152576;
  c.hidden_size = 4096;
  c.num_layers = layers;
  c.full = {64, 4, 192, 128, 5000000.0, 64, false};
  c.sliding = {64, 8, 192, 128, 10000.0, 64, true};
  c.sliding_window = 128;
  c.attention_value_scale = 0.707;
  c.intermediate_size = 16384;
  c.moe_intermediate_size = 2048;
  c.n_routed_experts = experts;
  c.num_experts_per_tok = 8;
  c.n_group = 1;
  c.topk_group = 1;
  c.routed_scaling_factor = 1.0;
  for (int l = 0; l < layers; ++l) {
    LayerSpec s;
    // 9 of 48 layers full attention, spread evenly (0, 6, 11, 16, ...).
    s.attention = (l * 9) % 48 < 9 ? AttentionKind::kFull : AttentionKind::kSliding;
    s.mlp = l == 0 ? MlpKind::kDense : MlpKind::kMoe;
    c.layers.push_back(s);
  }
  return c;
}

}  // namespace mimo::model
