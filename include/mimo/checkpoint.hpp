// Inspecting a checkpoint without loading it for inference: what `mimo-cli info` prints.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mimo/export.hpp"

namespace mimo {

struct CheckpointInfo {
  std::string path;
  std::string schema;        // "mimo_v2_flash" or "mimo_v2"
  std::string architecture;  // e.g. "MiMoV2FlashForCausalLM"
  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;     // full-attention layers
  int num_kv_heads = 0;  // full-attention layers
  int sliding_num_heads = 0;
  int sliding_num_kv_heads = 0;
  int head_dim = 0;
  int v_head_dim = 0;
  int sliding_window = 0;
  int n_routed_experts = 0;
  int num_experts_per_tok = 0;
  // One character per layer: 'F' full attention, 'S' sliding; then 'D' dense / 'M' MoE.
  std::string attention_pattern;
  std::string mlp_pattern;
  std::string quantization;  // quant_method, or "none"
  // Per storage precision ("BF16", "FP8 block", "MXFP4", "F32", ...): parameter count and bytes
  // (scales included in bytes) over the tensors the model uses.
  std::map<std::string, std::uint64_t> parameters_by_precision;
  std::map<std::string, std::uint64_t> bytes_by_precision;
  std::uint64_t total_parameters = 0;
  std::uint64_t total_bytes = 0;
  std::vector<std::string> shards;           // file names
  std::vector<std::string> skipped_tensors;  // present but unused (model.mtp.*)
};

// Reads config.json and every shard header, binds every weight (validating names, shapes and
// dtypes) and summarises. Throws mimo::Error naming the file / tensor / field on any problem.
MIMO_API CheckpointInfo inspect_checkpoint(const std::string& path);

}  // namespace mimo
