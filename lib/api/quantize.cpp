// mimo::quantize_checkpoint: option checks, the input's config validated as a MiMo-V2 model
// before any work, quant::quantize_directory, and the output bound like a load would.
#include "mimo/quantize.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "cpu/thread_pool.hpp"
#include "errors/foreign_errors.hpp"
#include "io/checkpoint.hpp"
#include "mimo/error.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "quant/quantizer.hpp"

namespace mimo {
namespace {

quant::QuantizerSettings to_settings(const QuantizeOptions& options) {
  if (options.fp8_block_rows <= 0 || options.fp8_block_cols <= 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("quantize: FP8 block size [{}, {}] must be positive",
                            options.fp8_block_rows, options.fp8_block_cols));
  }
  quant::QuantizerSettings settings;
  for (const std::string& rule : options.rules) {
    settings.rules.push_back(quant::parse_quant_rule(rule));
  }
  settings.shard_bytes = options.shard_size_bytes;
  settings.fp8_block = {options.fp8_block_rows, options.fp8_block_cols};
  settings.threads =
      cpu::checked_thread_count(options.num_threads, "QuantizeOptions.num_threads") > 0
          ? options.num_threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  settings.overwrite = options.overwrite;
  return settings;
}

TensorQuantStats to_stats(const quant::TensorResult& r) {
  TensorQuantStats s;
  s.name = r.name;
  s.shape = r.shape;
  s.input_dtype = std::string(io::dtype_name(r.input_dtype));
  s.format = std::string(quant::target_format_name(r.format));
  s.quantizable = r.quantizable;
  s.note = r.note;
  s.relative_l2_error = r.relative_l2_error;
  s.max_abs_error = r.max_abs_error;
  s.bytes_before = r.bytes_before;
  s.bytes_after = r.bytes_after;
  s.shard = r.shard;
  return s;
}

}  // namespace

QuantizeReport quantize_checkpoint(
    const std::string& in_dir, const std::string& out_dir, const QuantizeOptions& options,
    const std::function<void(const TensorQuantStats&)>& on_tensor) try {
  const quant::QuantizerSettings settings = to_settings(options);
  if (!std::filesystem::is_directory(in_dir)) {
    throw Error(ErrorCode::kIo, fmt::format("{}: no such checkpoint directory", in_dir));
  }
  // A config libmimo cannot run is rejected before hours of quantizing, with its own message.
  const model::ModelConfig input_config = model::load_model_config(in_dir);
  if (input_config.quantization) {
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: the input is already quantized (quant_method {}); quantize from "
                            "the BF16 / F32 checkpoint",
                            model::config_json_path(in_dir), input_config.quantization->method));
  }
  const quant::QuantizerResult result =
      quant::quantize_directory(in_dir, out_dir, settings, [&](const quant::TensorResult& r) {
        if (on_tensor) on_tensor(to_stats(r));
      });
  QuantizeReport report;
  for (const quant::TensorResult& r : result.tensors) {
    report.tensors.push_back(to_stats(r));
    report.bytes_before += r.bytes_before;
    report.bytes_after += r.bytes_after;
  }
  report.shards = result.shards;
  report.copied_files = result.copied_files;
  if (!result.quantization_config.is_null()) {
    report.quantization_config_json = result.quantization_config.dump();
  }
  if (options.verify) {
    const model::ModelConfig config = model::load_model_config(out_dir);
    const io::Checkpoint checkpoint = io::Checkpoint::open(out_dir);
    model::bind_weights(config, checkpoint);
  }
  return report;
} catch (...) {
  rethrow_as_mimo_error(in_dir);
}

}  // namespace mimo
