// The checkpoint quantizer: a plain (BF16 / F32 / F16) checkpoint directory in, a directory
// with MXFP4 experts and FP8 block-scaled linears (or whatever the rules pick) out, sharded,
// with config.json's quantization_config and the tokenizer files. Layouts: docs/formats.md.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/dtype.hpp"
#include "quant/quant_rules.hpp"
#include "quant/tensor_conversion.hpp"

namespace mimo::quant {

struct QuantizerSettings {
  std::vector<QuantRule> rules;   // tried in order before default_quant_rules()
  std::uint64_t shard_bytes = 0;  // 0: one model.safetensors; else shards of about this size
  FpBlock fp8_block;
  int threads = 1;
  bool overwrite = false;  // allow a non-empty output directory (its old shards are removed)
};

struct TensorResult {
  std::string name;  // input tensor name
  std::vector<std::int64_t> shape;
  io::DType input_dtype = io::DType::kBF16;
  TargetFormat format = TargetFormat::kKeep;  // what was written
  bool quantizable = false;                   // a linear projection the rules applied to
  std::string note;                           // e.g. why MXFP4 fell back to FP8
  double relative_l2_error = 0.0;
  double max_abs_error = 0.0;
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;  // weight + scales
  std::string shard;              // output file name
};

struct QuantizerResult {
  std::vector<TensorResult> tensors;  // input order (sorted by name)
  std::vector<std::string> shards;    // output safetensors file names
  std::vector<std::string> copied_files;
  nlohmann::ordered_json quantization_config;  // null when nothing was quantized
};

// Quantizes `in_dir` into `out_dir` (created if missing). Throws mimo::Error: kIo for a missing
// input or an unwritable output, kUnsupported for an input already quantized (a
// quantization_config, or any tensor not F32 / BF16 / F16), kInvalidArgument for a non-empty
// output without `overwrite` or out_dir == in_dir. `on_tensor` (may be empty) sees each
// tensor's result as it is written.
QuantizerResult quantize_directory(const std::string& in_dir, const std::string& out_dir,
                                   const QuantizerSettings& settings,
                                   const std::function<void(const TensorResult&)>& on_tensor);

}  // namespace mimo::quant
