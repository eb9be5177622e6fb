// Binding a DFlash drafter checkpoint: the fc projection, its norm, the decoder layers and the
// final norm, in either naming (transformers' encoder.* / z-lab's fc + hidden_norm, with or
// without a "model." prefix). Weights stay in the mapping (F32 / BF16 / F16); norms become floats.
#pragma once

#include <optional>
#include <vector>

#include "io/checkpoint.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::spec {

struct DrafterLayerWeights {
  std::vector<float> input_norm, post_attention_norm, q_norm, k_norm;
  model::LinearWeight q, k, v, o;
  model::ExpertWeights mlp;  // gate / up / down
  std::vector<float> sink;   // [num_heads] when the config has attention sinks, else empty
};

struct DrafterWeights {
  model::LinearWeight fc;           // [hidden, K * target_hidden]
  std::vector<float> context_norm;  // hidden_norm / encoder.output_norm_enc
  std::vector<DrafterLayerWeights> layers;
  std::vector<float> final_norm;
  // Input of the mask slots of a block, [hidden], when the drafter ships one (tensor
  // `mask_embedding`, in the checkpoint or a `mask_embedding.safetensors` sidecar); empty: the
  // target's embedding of mask_token_id (MiMo's mask row is ~0, hence the override).
  std::vector<float> mask_embedding;
};

// Every tensor the config implies must be present with its shape; throws mimo::Error
// (kInvalidFile: missing tensor / wrong shape, kUnsupported: quantized dtype) naming it.
// `checkpoint` must outlive the returned weights.
DrafterWeights bind_drafter_weights(const model::DrafterConfig& config, std::int64_t target_hidden,
                                    const io::Checkpoint& checkpoint);

// The mask-embedding override of the drafter in `drafter_dir`: the checkpoint's `mask_embedding`
// tensor, else the `mask_embedding.safetensors` sidecar, else empty. A `mask_embedding.pt`
// (a PyTorch pickle, which libmimo does not read) without a safetensors copy is an error that
// says how to convert it. Shape [hidden] or [1, hidden], F32 / BF16 / F16.
std::vector<float> load_mask_embedding(const std::string& drafter_dir,
                                       const io::Checkpoint& checkpoint, std::int64_t hidden);

}  // namespace mimo::spec
