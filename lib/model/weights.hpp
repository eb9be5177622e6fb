// Weights of a MiMo-V2 model bound to checkpoint tensors, kept in their stored precision.
// Nothing here owns or converts data: every pointer aims into the checkpoint's mappings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/tensor_view.hpp"

namespace mimo::model {

enum class WeightFormat {
  kF32,
  kBF16,
  kF16,
  kFp8Block,  // F8_E4M3 values, one float scale per 128x128 block (weight_scale_inv)
  kMxfp4,     // E2M1 codes two per byte (low nibble first) + one E8M0 scale per 32 inputs
};

// A linear layer y = W x with W of shape [rows (out), cols (in)], possibly a row slice of a
// fused tensor (qkv_proj) or one expert of a stacked tensor.
struct LinearWeight {
  std::string name;  // tensor name, for messages
  WeightFormat format = WeightFormat::kBF16;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  // Row r of this weight is stored row `row_offset + r` of `data`'s tensor.
  std::int64_t row_offset = 0;
  const std::uint8_t* data = nullptr;  // start of the tensor (row 0 of the full tensor)
  std::int64_t row_stride_bytes = 0;   // bytes per stored row (cols * elem, or cols/2 for FP4)
  // kFp8Block: scale of block (R/bs, C/bs) at scales[(R/bs) * scale_cols + C/bs], where R is the
  // stored row (row_offset + r); F32 or BF16 per scale_dtype.
  // kMxfp4: E8M0 byte of (R, c/32) at scales[R * scale_cols + c/32].
  const std::uint8_t* scales = nullptr;
  io::DType scale_dtype = io::DType::kF32;
  std::int64_t scale_cols = 0;
  int block_rows = 128;  // fp8 block size along rows
  int block_cols = 128;  // fp8 block size along cols (32 for MXFP4)

  std::int64_t stored_bytes() const;  // bytes a pass over this weight reads (values + scales)
};

// A plain vector parameter (norm weight, sink bias, router bias): F32, BF16 or F16.
struct VectorWeight {
  std::string name;
  io::DType dtype = io::DType::kF32;
  const std::uint8_t* data = nullptr;
  std::int64_t size = 0;
};

struct ExpertWeights {
  LinearWeight gate, up, down;
};

struct LayerWeights {
  VectorWeight input_norm;
  VectorWeight post_attention_norm;
  LinearWeight q, k, v, o;           // q/k/v may be row slices of one fused qkv_proj
  std::optional<VectorWeight> sink;  // [num_heads], sliding layers (or where configured)
  // Dense MLP (mlp kind dense)
  std::optional<ExpertWeights> dense;
  // MoE
  std::optional<LinearWeight> router;       // [n_experts, hidden], usually F32 or BF16
  std::optional<VectorWeight> router_bias;  // e_score_correction_bias [n_experts]
  std::vector<ExpertWeights> experts;
};

struct ModelWeights {
  LinearWeight embed;  // [vocab, hidden]; rows are gathered, not multiplied
  std::vector<LayerWeights> layers;
  VectorWeight final_norm;
  LinearWeight lm_head;              // [vocab, hidden]; the embedding when tie_word_embeddings
  std::vector<std::string> skipped;  // checkpoint tensors deliberately not bound (model.mtp.*)
};

}  // namespace mimo::model
