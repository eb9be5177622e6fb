// Converting one plain (F32 / BF16 / F16) tensor to its quantizer target format, with the error
// statistics of the result against the input (the quantizer's per-tensor table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/dtype.hpp"
#include "io/tensor_view.hpp"
#include "quant/quant_rules.hpp"

namespace mimo::quant {

struct FpBlock {
  std::int64_t rows = 128;
  std::int64_t cols = 128;
};

// One tensor of the output: the weight, or its scale companion.
struct OutputTensor {
  std::string name;
  io::DType dtype = io::DType::kF32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;  // empty in a plan (output_plan), filled by convert_tensor
  std::uint64_t nbytes() const;
};

struct ConvertedTensor {
  std::vector<OutputTensor> outputs;
  double relative_l2_error = 0.0;  // ||dequant - input|| / ||input|| in float64 (0 if exact)
  double max_abs_error = 0.0;
};

// The names, dtypes and shapes `input` turns into under `format` (bytes left empty): MXFP4 and
// FP8 need a rank-2 `input` named "*.weight" (MXFP4 also cols % 32 == 0; callers check).
std::vector<OutputTensor> output_plan(const io::TensorView& input, TargetFormat format,
                                      FpBlock block);

// Converts `input` (F32, BF16 or F16) to `format`, using up to `threads` threads for large
// matrices. Non-finite values in a quantized tensor throw mimo::Error(kInvalidArgument) naming
// the tensor.
ConvertedTensor convert_tensor(const io::TensorView& input, TargetFormat format, FpBlock block,
                               int threads);

// The input as float32 (exact for all three plain dtypes).
std::vector<float> tensor_to_float(const io::TensorView& input);

}  // namespace mimo::quant
