// A whole model's weights on the device, as the GPU executor reads them: every linear in its
// stored precision where the tiles can read that shape (FP8 block-scaled, MXFP4, BF16), else
// widened to F32 (correct, more bytes; only tiny test models hit this); MoE experts as one
// MXFP4 stack per projection, or as a table of per-expert matrices for other formats.
// Built from bound checkpoint weights (upload_model) or generated on the device with random
// values at a given geometry (synthetic_model, for benchmarks). No CUDA types.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/tiles/matrix_views.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::cuda {

enum class MatrixFormat { kFp8, kMxfp4, kBf16, kF32 };

// One linear layer on the device, in one of the tile formats.
struct DeviceLinear {
  MatrixFormat format = MatrixFormat::kF32;
  Fp8Matrix fp8;
  Mxfp4Matrix mxfp4;
  Bf16Matrix bf16;
  F32Matrix f32;
  int rows = 0;
  int cols = 0;
  std::uint64_t bytes = 0;  // bytes one pass reads (codes + scales)
};

// y [n_tokens, rows] = W x [n_tokens, cols].
void apply(const DeviceLinear& w, const float* x, int n_tokens, float* y, Stream stream);

// One bound linear on the device in its stored precision where the tiles read it, else widened
// to F32 (the rule upload_model uses; the GPU DFlash drafter reuses it).
DeviceLinear upload_device_linear(const model::LinearWeight& w, DeviceArena& arena);

// BF16 or F32 linears of one width, their rows one after another in one matrix of `arena`: its
// product is theirs side by side in each output row (one launch for several projections of the
// same input). rows == 0 where they do not stack (another format, or formats or widths differ).
DeviceLinear stack_device_linears(std::initializer_list<const DeviceLinear*> parts,
                                  DeviceArena& arena);
// Rows first .. first + rows - 1 of a BF16 or F32 linear, as a linear of its own (no copy).
DeviceLinear device_linear_rows(const DeviceLinear& w, int first, int rows);

// One projection of every expert: a device array of `count` matrices of one format.
struct ExpertTable {
  MatrixFormat format = MatrixFormat::kF32;
  const void* table = nullptr;  // device array of Fp8Matrix / Mxfp4Matrix / Bf16Matrix / F32Matrix
  int rows = 0;
  int cols = 0;
};

struct DeviceExperts {
  int count = 0;
  bool stacked = false;  // MXFP4 stacks (the fused gate/up kernel) rather than tables
  Mxfp4Stack gate_stack, up_stack, down_stack;
  ExpertTable gate, up, down;
  std::uint64_t bytes_per_expert = 0;  // gate + up + down of one expert
};

struct DeviceLayer {
  const float* input_norm = nullptr;
  const float* post_attention_norm = nullptr;
  DeviceLinear q, k, v, o;
  const float* sinks = nullptr;  // [num_heads] or null
  bool moe = false;
  DeviceLinear gate, up, down;  // dense MLP
  DeviceLinear router;          // MoE
  const float* router_bias = nullptr;
  DeviceExperts experts;
};

struct DeviceModel {
  DeviceArena arena;
  // The embedding table: BF16 or F32 (other formats are widened to F32).
  MatrixFormat embed_format = MatrixFormat::kF32;
  Bf16Matrix embed_bf16;
  F32Matrix embed_f32;
  std::vector<DeviceLayer> layers;
  const float* final_norm = nullptr;
  DeviceLinear lm_head;
  const float* full_inv_freq = nullptr;  // RoPE inverse frequencies (model::rope_inv_freq)
  const float* sliding_inv_freq = nullptr;

  // Bytes a step reads besides the routed experts: attention, dense MLPs, routers, lm_head.
  std::uint64_t fixed_step_bytes() const;
};

// Uploads bound weights (shapes checked against the config; kUnsupported / kInvalidArgument
// name the tensor). Throws kDevice when the device runs out of memory.
std::unique_ptr<DeviceModel> upload_model(const model::ModelConfig& config,
                                          const model::ModelWeights& weights);

// Random weights at the config's geometry, generated on the device: attention and dense MLP
// FP8 128x128 block-scaled, experts MXFP4, router F32, lm_head BF16 (also the embedding),
// norms 1, sinks 0. Scales keep activations of order 1 through the layers.
std::unique_ptr<DeviceModel> synthetic_model(const model::ModelConfig& config, std::uint64_t seed);

}  // namespace mimo::cuda
