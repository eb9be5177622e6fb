// The random in-memory model used by the forward tests.
#include "random_model.hpp"

#include <cmath>

namespace mimo::cpu::testing {

using model::WeightFormat;

std::unique_ptr<RandomModel> make_random_model(std::uint64_t seed, int head_dim, int rotary_dim) {
  auto m = std::make_unique<RandomModel>();
  Rng rng(seed);
  model::ModelConfig& c = m->config;
  c.schema = "mimo_v2_flash";
  c.vocab_size = 97;
  c.hidden_size = 64;
  c.num_layers = 4;
  c.full = {4, 2, head_dim, 16, 5e6, rotary_dim, false};
  c.sliding = {4, 4, head_dim, 16, 1e4, rotary_dim, true};
  c.sliding_window = 4;
  c.attention_value_scale = 0.707;
  c.intermediate_size = 96;
  c.moe_intermediate_size = 32;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 2;
  c.n_group = 2;
  c.topk_group = 1;
  c.routed_scaling_factor = 1.5;
  c.rms_norm_eps = 1e-5;
  c.layers = {{model::AttentionKind::kFull, model::MlpKind::kDense},
              {model::AttentionKind::kSliding, model::MlpKind::kMoe},
              {model::AttentionKind::kSliding, model::MlpKind::kMoe},
              {model::AttentionKind::kFull, model::MlpKind::kMoe}};

  auto linear = [&](WeightFormat f, std::int64_t rows, std::int64_t cols, int fp8_block = 128) {
    m->linears.push_back(
        make_linear(f, rows, cols, rng, 2.0f / std::sqrt(float(cols)), 0, false, fp8_block));
    return m->linears.back()->weight;
  };
  auto vec = [&](std::int64_t size, float center, float spread) {
    m->vectors.push_back(make_vector(size, rng, center, spread));
    return m->vectors.back()->weight;
  };
  const std::int64_t h = c.hidden_size;
  m->linears.push_back(make_linear(WeightFormat::kBF16, c.vocab_size, h, rng, 1.0f));
  m->weights.embed = m->linears.back()->weight;
  for (int l = 0; l < c.num_layers; ++l) {
    const model::AttentionSpec& a = c.attention(l);
    model::LayerWeights lw;
    lw.input_norm = vec(h, 1.0f, 0.2f);
    lw.post_attention_norm = vec(h, 1.0f, 0.2f);
    lw.q = linear(WeightFormat::kFp8Block, a.num_heads * a.head_dim, h, 16);
    lw.k = linear(WeightFormat::kBF16, a.num_kv_heads * a.head_dim, h);
    lw.v = linear(WeightFormat::kF32, a.num_kv_heads * a.v_head_dim, h);
    lw.o = linear(WeightFormat::kBF16, h, a.num_heads * a.v_head_dim);
    if (a.has_sink) lw.sink = vec(a.num_heads, 0.0f, 1.0f);
    if (c.layers[l].mlp == model::MlpKind::kDense) {
      lw.dense = model::ExpertWeights{linear(WeightFormat::kFp8Block, c.intermediate_size, h, 32),
                                      linear(WeightFormat::kFp8Block, c.intermediate_size, h, 32),
                                      linear(WeightFormat::kFp8Block, h, c.intermediate_size, 32)};
    } else {
      lw.router = linear(WeightFormat::kF32, c.n_routed_experts, h);
      lw.router_bias = vec(c.n_routed_experts, 0.0f, 0.05f);
      for (int e = 0; e < c.n_routed_experts; ++e) {
        lw.experts.push_back({linear(WeightFormat::kMxfp4, c.moe_intermediate_size, h),
                              linear(WeightFormat::kMxfp4, c.moe_intermediate_size, h),
                              linear(WeightFormat::kMxfp4, h, c.moe_intermediate_size)});
      }
    }
    m->weights.layers.push_back(std::move(lw));
  }
  m->weights.final_norm = vec(h, 1.0f, 0.2f);
  m->weights.lm_head = linear(WeightFormat::kBF16, c.vocab_size, h);
  return m;
}

}  // namespace mimo::cpu::testing
