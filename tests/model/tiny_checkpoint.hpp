// Test fixture shared by the model, CPU-engine and CLI tests: writes a small random MiMo-V2
// checkpoint (config.json + safetensors) in BF16, FP8-block or MXFP4-expert storage, and
// returns the exact float value of every stored weight for reference computations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace mimo::testing {

enum class TinyPrecision {
  kBF16,          // every tensor BF16
  kFp8,           // linears F8_E4M3 + F32 weight_scale_inv; norms, embeddings, lm_head BF16,
                  // router F32 (the MiMo-V2.5-Pro release layout)
  kMxfp4Experts,  // routed experts MXFP4, everything else BF16
};

enum class TinyExpertLayout {
  kPerExpert,  // mlp.experts.{e}.{gate,up,down}_proj.weight (+ scale tensors)
  kStacked,    // gpt-oss mlp.experts.{gate,up,down}_proj_{blocks,scales}; MXFP4 only
};

struct TinyCheckpointOptions {
  TinyPrecision precision = TinyPrecision::kBF16;
  TinyExpertLayout expert_layout = TinyExpertLayout::kPerExpert;
  bool fused_qkv = false;  // one self_attn.qkv_proj.weight; sets attention_projection_layout
  bool with_mtp = false;   // adds model.mtp.* tensors, which the model never binds
  int fp8_block = 128;     // FP8 block edge (written to quantization_config.weight_block_size)
  int shards = 1;          // > 1: model-0000k-of-0000n.safetensors + model.safetensors.index.json
  std::uint32_t seed = 1;
};

// A small valid config in `schema` ("mimo_v2_flash" or "mimo_v2"): 6 layers (full at 0 and 5),
// layer 0 dense, hidden 64, 4 q heads, 2 kv heads (4 on sliding layers), head_dim 32, v_head_dim
// 16, 8 experts top-2 in 2 groups, vocab 96, window 4. Edit it before writing to vary shapes.
nlohmann::json tiny_config_json(const std::string& schema = "mimo_v2_flash");

struct TinyCheckpoint {
  model::ModelConfig config;  // parsed from the config.json written
  // Every weight as the exact floats stored (after rounding / quantization), keyed by its
  // unfused per-expert name ("model.layers.1.self_attn.k_proj.weight",
  // "model.layers.2.mlp.experts.3.down_proj.weight") even when stored fused or stacked.
  std::map<std::string, std::vector<float>> values;
};

// Writes config.json (with quantization_config / attention_projection_layout added as the
// options require) and the tensors into `dir` (created if needed).
TinyCheckpoint write_tiny_checkpoint(const std::string& dir, nlohmann::json config,
                                     const TinyCheckpointOptions& options = {});

// A fresh directory under the system temp dir, removed with its contents on scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace mimo::testing
