// Quantizing a plain (BF16 / F32 / F16) checkpoint into libmimo's mixed layout: MXFP4 routed
// experts and FP8 E4M3 128x128 block-scaled linears, or whatever per-module rules ask for.
// What `mimo-cli quantize` runs. Rule syntax and output layout: docs/formats.md, "Quantizer".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mimo/export.hpp"

namespace mimo {

struct QuantizeOptions {
  // "PATTERN=FORMAT", FORMAT one of mxfp4, fp8, bf16, keep. Tried in order, the first match
  // wins, before the defaults "mlp.experts.=mxfp4" then "*=fp8". PATTERN matches the module
  // name (tensor name without ".weight"): as a glob over the whole name when it holds '*' or
  // '?', else as a substring. Only linear projections follow rules; embeddings, lm_head, norms,
  // the router, its correction bias and sinks always keep their stored precision.
  std::vector<std::string> rules;
  std::uint64_t shard_size_bytes = 0;  // 0: one model.safetensors; else shards of about this size
  int fp8_block_rows = 128;
  int fp8_block_cols = 128;
  int num_threads = 0;     // <= 1024; 0: all hardware threads
  bool overwrite = false;  // replace the checkpoint in a non-empty output directory
  bool verify = true;      // load the output's config and bind its weights before returning
};

struct TensorQuantStats {
  std::string name;  // input tensor name
  std::vector<std::int64_t> shape;
  std::string input_dtype;         // "BF16", "F32", "F16"
  std::string format;              // what was written: "mxfp4", "fp8", "bf16" or "keep"
  bool quantizable = false;        // a linear projection the rules applied to
  std::string note;                // e.g. why MXFP4 fell back to FP8
  double relative_l2_error = 0.0;  // ||dequantized - input|| / ||input||
  double max_abs_error = 0.0;
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;  // weight + scales
  std::string shard;              // output file holding it
};

struct QuantizeReport {
  std::vector<TensorQuantStats> tensors;
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;
  std::vector<std::string> shards;        // output .safetensors file names
  std::vector<std::string> copied_files;  // tokenizer / generation files copied over
  std::string quantization_config_json;   // as written to config.json ("" when none)
};

// Reads `in_dir` (config.json + safetensors), writes `out_dir` (created if missing). Throws
// mimo::Error: kIo for a missing input or an unwritable output; kUnsupported for an input that
// is already quantized or not a MiMo-V2 model; kInvalidArgument for a bad rule, a non-empty
// output without `overwrite`, or out_dir == in_dir. `on_tensor` (may be empty) sees each
// tensor's statistics as it is written.
MIMO_API QuantizeReport quantize_checkpoint(
    const std::string& in_dir, const std::string& out_dir, const QuantizeOptions& options = {},
    const std::function<void(const TensorQuantStats&)>& on_tensor = {});

}  // namespace mimo
