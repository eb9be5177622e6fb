// Per-layer kernel shapes (layer_shapes.hpp).
#include "cuda/runtime/layer_shapes.hpp"

#include <cmath>

namespace mimo::cuda {

AttentionShape attention_shape(const model::ModelConfig& config, int layer) {
  const model::AttentionSpec& a = config.attention(layer);
  const bool sliding = config.layers[layer].attention == model::AttentionKind::kSliding;
  AttentionShape shape;
  shape.num_heads = a.num_heads;
  shape.num_kv_heads = a.num_kv_heads;
  shape.head_dim = a.head_dim;
  shape.v_head_dim = a.v_head_dim;
  shape.window = sliding ? config.sliding_window : 0;
  shape.score_scale = static_cast<float>(std::pow(static_cast<double>(a.head_dim), -0.5));
  return shape;
}

}  // namespace mimo::cuda
