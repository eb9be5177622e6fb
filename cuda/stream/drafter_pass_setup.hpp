// The GPU drafter's device weights per layer, and what the persistent drafter passes
// (cuda/kernels/drafter_ops.hpp) need from them: their weights and geometry, filled once.
// No CUDA types.
#pragma once

#include <vector>

#include "cuda/runtime/device_model.hpp"
#include "cuda/tiles/drafter_pass.hpp"
#include "model/config.hpp"

namespace mimo::cuda {

struct DrafterLayer {
  const float* input_norm = nullptr;
  const float* post_attention_norm = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* sinks = nullptr;
  DeviceLinear q, k, v, o, gate, up, down;
};

// The drafter's weights the passes read besides its layers.
struct DrafterGlobals {
  const DeviceLinear* fc = nullptr;
  const float* context_norm = nullptr;
  const float* final_norm = nullptr;
  const float* mask_embedding = nullptr;
  const float* inv_freq = nullptr;
};

// Fills the passes' geometry and weights (not the buffers: the caller sets those before each
// launch). False when the passes cannot run this drafter - a linear neither BF16 nor F32, rows
// not in 16-byte chunks, more layers or block positions than they hold, a query head count not
// a multiple of the key heads - and the caller keeps launching the
// drafter op by op.
bool fill_drafter_pass(const model::DrafterConfig& config, int block, const DeviceModel& target,
                       const std::vector<DrafterLayer>& layers, const DrafterGlobals& globals,
                       tiles::DrafterPassArgs& pass);

}  // namespace mimo::cuda
