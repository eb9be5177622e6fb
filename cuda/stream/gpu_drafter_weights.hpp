// The GPU DFlash drafter's weights on the device (GpuDrafter's): uploaded once in their stored
// precision through the executor's upload rule (upload_device_linear), with q / k / v and
// gate / up stacked into one matrix each where their formats allow (one launch instead of three
// or two). No CUDA types here.
#pragma once

#include <vector>

#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_model.hpp"
#include "model/config.hpp"
#include "spec/drafter_weights.hpp"

namespace mimo::cuda {

struct DrafterLayer {
  const float* input_norm = nullptr;
  const float* post_attention_norm = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* sinks = nullptr;
  DeviceLinear q, k, v, o, gate, up, down;
  // Where the formats stack (BF16 or F32, one width): [q; k; v] by rows, one product for the
  // three, `kv` its last rows (the context pass's k and v), and [gate; up]; then q, k, v, gate
  // and up are unset. rows == 0 where they do not stack.
  DeviceLinear qkv, kv, gate_up;
};

struct DrafterDeviceWeights {
  DeviceArena arena;
  DeviceLinear fc;
  const float* context_norm = nullptr;
  const float* final_norm = nullptr;
  const float* mask_rows = nullptr;  // [block - 1, hidden]: the mask slots' own input, or null
  const float* inv_freq = nullptr;   // RoPE inverse frequencies
  std::vector<DrafterLayer> layers;

  // Whether every layer runs q / k / v as one product and gate / up as one.
  bool stacked() const;
};

// Uploads `weights` (their mapping may go away afterwards) for blocks of block_size into `out`
// (empty). Throws kDevice when the device runs out of memory.
void upload_drafter_weights(const model::DrafterConfig& config, const spec::DrafterWeights& weights,
                            int block_size, DrafterDeviceWeights& out);

}  // namespace mimo::cuda
