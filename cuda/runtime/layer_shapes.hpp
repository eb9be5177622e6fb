// Per-layer shapes as the kernels take them, derived from the model config once for every runner
// (the stream runner and the persistent engine).
#pragma once

#include "cuda/tiles/matrix_views.hpp"
#include "model/config.hpp"

namespace mimo::cuda {

// The attention geometry of `layer`: heads, head dims, the window of a sliding layer, the score
// scale head_dim^-0.5.
AttentionShape attention_shape(const model::ModelConfig& config, int layer);

}  // namespace mimo::cuda
