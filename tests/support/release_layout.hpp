// Writes a tiny checkpoint in the MiMo-V2.5-Pro FP4-DFlash release's layout (docs/formats.md,
// "The MiMo-V2.5-Pro release"), from tiny-bf16 through the quantizer, and the same weights
// decoded once to F32: shared by the CPU test (tests/api) and the GPU test (tests/gpu).
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "io/safetensors.hpp"
#include "io/safetensors_writer.hpp"
#include "mimo/quantize.hpp"
#include "quant/block_formats.hpp"

namespace mimo::testing {

namespace release_layout_detail {
namespace fs = std::filesystem;
using nlohmann::json;

inline json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}
inline void write_json(const fs::path& p, const json& j) {
  std::ofstream(p) << j.dump(1);
}

inline std::span<const std::byte> bytes_of(const std::vector<float>& v) {
  return std::as_bytes(std::span<const float>(v));
}

// The release layout from tiny-bf16: the quantizer's FP8 / MXFP4 tensors (o_proj kept BF16),
// the release's quantization_config, and an MTP shard tied in by an index.
inline fs::path write_release_checkpoint(const fs::path& dir, const std::string& data_dir) {
  const std::string tiny = data_dir + "/models/tiny-bf16";
  QuantizeOptions options;
  options.rules = {"self_attn.o_proj=bf16"};
  quantize_checkpoint(tiny, dir.string(), options);
  json config = read_json(dir / "config.json");
  const json written = config["quantization_config"];
  config["quantization_config"] = {{"quant_method", "fp8"},
                                   {"fmt", "e4m3"},
                                   {"activation_scheme", "dynamic"},
                                   {"weight_block_size", {128, 128}},
                                   {"store_dtype", "mxfp4"},
                                   {"mxfp4_block_size", 32},
                                   {"ignored_layers", written["modules_to_not_convert"]}};
  write_json(dir / "config.json", config);
  const int hidden = config["hidden_size"];
  io::SafetensorsWriter mtp;
  const std::vector<float> ones(hidden, 1.0f);
  mtp.add("model.mtp.layers.0.input_layernorm.weight", io::DType::kF32, {hidden}, bytes_of(ones));
  mtp.add("model.mtp.layers.0.enorm.weight", io::DType::kF32, {hidden}, bytes_of(ones));
  mtp.write((dir / "model_mtp.safetensors").string());
  json index = {{"metadata", json::object()}, {"weight_map", json::object()}};
  const auto main_shard = io::SafetensorsFile::open((dir / "model.safetensors").string());
  for (const auto& [name, view] : main_shard->tensors()) {
    index["weight_map"][name] = "model.safetensors";
  }
  for (const char* name :
       {"model.mtp.layers.0.input_layernorm.weight", "model.mtp.layers.0.enorm.weight"}) {
    index["weight_map"][name] = "model_mtp.safetensors";
  }
  write_json(dir / "model.safetensors.index.json", index);
  return dir;
}

// The same weights decoded once to F32 (no quantization_config, no MTP shard).
inline void write_f32_twin(const fs::path& release, const fs::path& dir) {
  fs::create_directories(dir);
  json config = read_json(release / "config.json");
  const std::vector<int> block = config["quantization_config"]["weight_block_size"];
  config.erase("quantization_config");
  write_json(dir / "config.json", config);
  const auto file = io::SafetensorsFile::open((release / "model.safetensors").string());
  io::SafetensorsWriter twin;
  for (const auto& [name, t] : file->tensors()) {
    if (name.ends_with(".weight_scale_inv") || name.ends_with(".weight_scale")) continue;
    const io::TensorView* fp8_scale = file->find(name + "_scale_inv");
    const io::TensorView* fp4_scale = file->find(name + "_scale");
    if (fp8_scale != nullptr) {
      const std::int64_t rows = t.shape[0], cols = t.shape[1];
      std::vector<float> out(rows * cols);
      quant::dequantize_fp8_block(reinterpret_cast<const std::uint8_t*>(t.data),
                                  reinterpret_cast<const float*>(fp8_scale->data), rows, cols,
                                  block[0], block[1], out.data());
      twin.add(name, io::DType::kF32, {rows, cols}, bytes_of(out));
    } else if (fp4_scale != nullptr) {
      const std::int64_t rows = t.shape[0], cols = t.shape[1] * 2;
      std::vector<float> out(rows * cols);
      quant::dequantize_mxfp4(reinterpret_cast<const std::uint8_t*>(t.data),
                              reinterpret_cast<const std::uint8_t*>(fp4_scale->data), rows, cols,
                              out.data());
      twin.add(name, io::DType::kF32, {rows, cols}, bytes_of(out));
    } else {
      twin.add(name, t.dtype, t.shape, std::span<const std::byte>(t.data, t.nbytes));
    }
  }
  twin.write((dir / "model.safetensors").string());
}

}  // namespace release_layout_detail

using release_layout_detail::write_f32_twin;
using release_layout_detail::write_release_checkpoint;

}  // namespace mimo::testing
