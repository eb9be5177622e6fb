// Binding a checkpoint's tensors to ModelWeights: every tensor the config implies is looked up,
// its dtype picks the storage format and its shape is checked; nothing is copied or converted.
#pragma once

#include <span>
#include <string>

#include "io/checkpoint.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::model {

// How a checkpoint names its routed-expert weights. Names are relative to
// "model.layers.{i}.mlp.experts."; "{e}" is the expert, "{p}" gate_proj / up_proj / down_proj.
// A new release naming is one more entry in expert_layouts().
struct ExpertLayout {
  const char* description;
  const char* values;  // per expert: a weight whose dtype picks the format; stacked: U8 blocks
  const char* scales;  // stacked layouts only: E8M0 scales [E, out, in/32]
  bool stacked;        // one tensor for all experts: values [E, out, in/32, 16] (gpt-oss MXFP4)
};
std::span<const ExpertLayout> expert_layouts();

// Formats by dtype: F32 / BF16 / F16 plain; F8_E4M3 with `<name>_scale_inv` (F32 or BF16,
// [ceil(out/bs), ceil(in/bs)], bs from quantization_config.weight_block_size, default 128) is
// FP8 block; U8 with `<name>_scale` (U8 or F8_E8M0, [out, in/32]) is MXFP4. q/k/v come from
// separate projections or from one fused self_attn.qkv_proj (row slices). Tensors under
// "model.mtp." are listed in `skipped`; a missing tensor, a wrong shape or dtype, or any other
// tensor the config does not use is a mimo::Error naming the tensor. The weights point into
// `checkpoint`'s mappings: it must outlive them (hence no binding to a temporary).
ModelWeights bind_weights(const ModelConfig& config, const io::Checkpoint& checkpoint);
ModelWeights bind_weights(const ModelConfig& config, io::Checkpoint&& checkpoint) = delete;

}  // namespace mimo::model
