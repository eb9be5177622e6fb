// quantize_directory: validate the input, plan every output tensor and the shards from shapes
// alone (so shard names are known up front), then convert and write one shard at a time.
#include "quant/quantizer.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include "io/checkpoint.hpp"
#include "io/safetensors_writer.hpp"
#include "io/text_file.hpp"
#include "mimo/error.hpp"

namespace mimo::quant {
namespace {

namespace fs = std::filesystem;

// Files next to the weights that a model directory needs (tokenizer, generation defaults).
constexpr const char* kCopiedFiles[] = {"tokenizer.json",
                                        "tokenizer_config.json",
                                        "special_tokens_map.json",
                                        "added_tokens.json",
                                        "vocab.json",
                                        "merges.txt",
                                        "tokenizer.model",
                                        "chat_template.jinja",
                                        "chat_template.json",
                                        "generation_config.json"};

struct PlannedTensor {
  const io::TensorView* input = nullptr;
  TensorResult result;
  std::size_t shard = 0;
};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw Error(ErrorCode::kIo, fmt::format("{}: cannot write", path.string()));
}

nlohmann::ordered_json read_config(const fs::path& in_dir) {
  const fs::path path = in_dir / "config.json";
  if (!fs::is_regular_file(path)) {
    throw Error(ErrorCode::kIo,
                fmt::format("{}: no config.json in the input checkpoint directory", path.string()));
  }
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(
      io::read_text_file(path.string()), nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) {
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: not a JSON object", path.string()));
  }
  const auto q = config.find("quantization_config");
  if (q != config.end() && !q->is_null()) {
    const std::string method =
        q->is_object() && q->contains("quant_method") ? q->at("quant_method").dump() : "?";
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: the input is already quantized (quantization_config.quant_method "
                            "= {}); quantize from the BF16 / F32 checkpoint",
                            path.string(), method));
  }
  return config;
}

void check_plain_dtypes(const io::Checkpoint& checkpoint) {
  for (const auto& [name, view] : checkpoint.tensors()) {
    if (view->dtype != io::DType::kF32 && view->dtype != io::DType::kBF16 &&
        view->dtype != io::DType::kF16) {
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("tensor {} ({}) has dtype {}: the input looks already quantized; "
                              "expected F32, BF16 or F16 tensors only",
                              name, view->file, io::dtype_name(view->dtype)));
    }
  }
}

void prepare_output(const fs::path& in_dir, const fs::path& out_dir, bool overwrite) {
  std::error_code error;
  if (fs::exists(out_dir) && fs::equivalent(in_dir, out_dir, error)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("output directory {} is the input directory", out_dir.string()));
  }
  if (fs::exists(out_dir) && !fs::is_directory(out_dir)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("output {} exists and is not a directory", out_dir.string()));
  }
  if (fs::exists(out_dir) && !fs::is_empty(out_dir)) {
    if (!overwrite) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("output directory {} is not empty (overwrite, --overwrite in "
                              "mimo-cli, replaces its checkpoint)",
                              out_dir.string()));
    }
    // Stale shards of an earlier run would be read as part of the new checkpoint.
    for (const fs::directory_entry& entry : fs::directory_iterator(out_dir)) {
      const std::string name = entry.path().filename().string();
      if (entry.path().extension() == ".safetensors" || name == "model.safetensors.index.json") {
        fs::remove(entry.path());
      }
    }
  }
  fs::create_directories(out_dir, error);
  if (error) {
    throw Error(ErrorCode::kIo,
                fmt::format("{}: cannot create directory: {}", out_dir.string(), error.message()));
  }
}

TensorResult plan_tensor(const io::TensorView& view, const QuantizerSettings& settings) {
  TensorResult r;
  r.name = view.name;
  r.shape = view.shape;
  r.input_dtype = view.dtype;
  r.bytes_before = view.nbytes;
  const std::optional<std::string> module = quantizable_module(view.name);
  if (!module || view.rank() != 2) return r;
  r.quantizable = true;
  r.format = choose_format(settings.rules, *module);
  if (r.format == TargetFormat::kMxfp4 && view.shape[1] % 32 != 0) {
    r.format = TargetFormat::kFp8Block;
    r.note = fmt::format("{} inputs not a multiple of 32: FP8 instead of MXFP4", view.shape[1]);
  }
  return r;
}

std::uint64_t planned_bytes(const io::TensorView& view, TargetFormat format, FpBlock block) {
  std::uint64_t total = 0;
  for (const OutputTensor& t : output_plan(view, format, block)) total += t.nbytes();
  return total;
}

std::vector<std::string> assign_shards(std::vector<PlannedTensor>& plan,
                                       std::uint64_t shard_bytes) {
  std::size_t shard = 0;
  std::uint64_t filled = 0;
  for (PlannedTensor& p : plan) {
    if (shard_bytes > 0 && filled > 0 && filled + p.result.bytes_after > shard_bytes) {
      ++shard;
      filled = 0;
    }
    p.shard = shard;
    filled += p.result.bytes_after;
  }
  const std::size_t count = plan.empty() ? 1 : shard + 1;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < count; ++i) {
    names.push_back(count == 1 ? "model.safetensors"
                               : fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, count));
  }
  return names;
}

std::string module_of(const std::string& tensor_name) {
  constexpr std::string_view kWeight = ".weight";
  return tensor_name.substr(0, tensor_name.size() - kWeight.size());
}

// The quantized format of a group of modules ("mxfp4" or "fp8"; "mixed" when both occur, "bf16"
// when none is quantized); kept modules are listed in modules_to_not_convert instead.
std::string group_format(const std::set<TargetFormat>& formats) {
  const bool fp8 = formats.count(TargetFormat::kFp8Block) != 0;
  const bool mxfp4 = formats.count(TargetFormat::kMxfp4) != 0;
  if (fp8 && mxfp4) return "mixed";
  return fp8 ? "fp8" : mxfp4 ? "mxfp4" : "bf16";
}

nlohmann::ordered_json quantization_config(const std::vector<PlannedTensor>& plan, FpBlock block) {
  std::set<TargetFormat> expert_formats, dense_formats;
  bool any_fp8 = false, any_mxfp4 = false;
  std::vector<std::string> not_converted;
  for (const PlannedTensor& p : plan) {
    const TensorResult& r = p.result;
    if (!r.quantizable) {
      if (r.name == "lm_head.weight") not_converted.push_back("lm_head");
      if (r.name.ends_with(".mlp.gate.weight")) not_converted.push_back(module_of(r.name));
      continue;
    }
    (is_expert_module(r.name) ? expert_formats : dense_formats).insert(r.format);
    any_fp8 |= r.format == TargetFormat::kFp8Block;
    any_mxfp4 |= r.format == TargetFormat::kMxfp4;
    if (r.format == TargetFormat::kKeep || r.format == TargetFormat::kBf16) {
      not_converted.push_back(module_of(r.name));
    }
  }
  if (!any_fp8 && !any_mxfp4) return nullptr;
  nlohmann::ordered_json q;
  q["quant_method"] = any_fp8 && any_mxfp4 ? "mixed" : any_fp8 ? "fp8" : "mxfp4";
  if (any_fp8 && any_mxfp4) {
    q["experts"] = group_format(expert_formats);
    q["dense"] = group_format(dense_formats);
  }
  if (any_fp8) {
    q["fmt"] = "e4m3";
    q["activation_scheme"] = "dynamic";
    q["weight_block_size"] = {block.rows, block.cols};
  }
  q["modules_to_not_convert"] = not_converted;
  return q;
}

std::vector<std::string> copy_side_files(const fs::path& in_dir, const fs::path& out_dir) {
  std::vector<std::string> copied;
  for (const char* name : kCopiedFiles) {
    if (!fs::is_regular_file(in_dir / name)) continue;
    std::error_code error;
    fs::copy_file(in_dir / name, out_dir / name, fs::copy_options::overwrite_existing, error);
    if (error) {
      throw Error(ErrorCode::kIo, fmt::format("{}: cannot copy to {}: {}", (in_dir / name).string(),
                                              out_dir.string(), error.message()));
    }
    copied.emplace_back(name);
  }
  return copied;
}

}  // namespace

QuantizerResult quantize_directory(const std::string& in_dir, const std::string& out_dir,
                                   const QuantizerSettings& settings,
                                   const std::function<void(const TensorResult&)>& on_tensor) {
  const fs::path in_path(in_dir), out_path(out_dir);
  if (!fs::is_directory(in_path)) {
    throw Error(ErrorCode::kIo, fmt::format("{}: no such checkpoint directory", in_dir));
  }
  nlohmann::ordered_json config = read_config(in_path);
  const io::Checkpoint checkpoint = io::Checkpoint::open(in_dir);
  check_plain_dtypes(checkpoint);

  std::vector<PlannedTensor> plan;
  for (const auto& [name, view] : checkpoint.tensors()) {
    PlannedTensor p{view, plan_tensor(*view, settings), 0};
    p.result.bytes_after = planned_bytes(*view, p.result.format, settings.fp8_block);
    plan.push_back(std::move(p));
  }
  QuantizerResult result;
  result.shards = assign_shards(plan, settings.shard_bytes);
  result.quantization_config = quantization_config(plan, settings.fp8_block);
  prepare_output(in_path, out_path, settings.overwrite);

  std::map<std::string, std::string> weight_map;
  std::uint64_t total_size = 0;
  std::size_t next = 0;
  for (std::size_t shard = 0; shard < result.shards.size(); ++shard) {
    io::SafetensorsWriter writer;
    writer.set_metadata("format", "pt");
    for (; next < plan.size() && plan[next].shard == shard; ++next) {
      PlannedTensor& p = plan[next];
      ConvertedTensor converted =
          convert_tensor(*p.input, p.result.format, settings.fp8_block, settings.threads);
      p.result.relative_l2_error = converted.relative_l2_error;
      p.result.max_abs_error = converted.max_abs_error;
      p.result.shard = result.shards[shard];
      for (OutputTensor& t : converted.outputs) {
        writer.add(t.name, t.dtype, t.shape, t.bytes);
        weight_map[t.name] = result.shards[shard];
        total_size += t.bytes.size();
      }
      if (on_tensor) on_tensor(p.result);
      result.tensors.push_back(p.result);
    }
    writer.write((out_path / result.shards[shard]).string());
  }
  if (result.shards.size() > 1) {
    io::write_index(out_dir, weight_map, {{"total_size", std::to_string(total_size)}});
  }
  if (!result.quantization_config.is_null()) {
    config["quantization_config"] = result.quantization_config;
  }
  write_text(out_path / "config.json", config.dump(2) + "\n");
  result.copied_files = copy_side_files(in_path, out_path);
  return result;
}

}  // namespace mimo::quant
