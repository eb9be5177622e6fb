// `mimo-cli info -m DIR`: architecture, parameter counts per precision, layer pattern, shards.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/default_paths.hpp"
#include "mimo/checkpoint.hpp"

namespace mimo::cli {

namespace {

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.2f} {}", value, units[unit]);
}

int run_info(const std::string& model_dir) {
  CheckpointInfo info = inspect_checkpoint(model_dir);
  fmt::print("checkpoint     {}\n", info.path);
  fmt::print("architecture   {} (schema {})\n", info.architecture, info.schema);
  fmt::print("layers         {} (hidden {}, vocab {})\n", info.num_layers, info.hidden_size,
             info.vocab_size);
  fmt::print(
      "attention      full: {} q / {} kv heads; sliding (window {}): {} q / {} kv heads; "
      "head dim q/k {} v {}\n",
      info.num_heads, info.num_kv_heads, info.sliding_window, info.sliding_num_heads,
      info.sliding_num_kv_heads, info.head_dim, info.v_head_dim);
  fmt::print("experts        {} routed, top-{}\n", info.n_routed_experts, info.num_experts_per_tok);
  fmt::print("layer pattern  attention {}\n               mlp       {}\n", info.attention_pattern,
             info.mlp_pattern);
  fmt::print("quantization   {}\n", info.quantization);
  fmt::print("parameters     {} ({:.3f} B), {}\n", info.total_parameters,
             static_cast<double>(info.total_parameters) / 1e9, human_bytes(info.total_bytes));
  for (const auto& [precision, count] : info.parameters_by_precision) {
    fmt::print("  {:<12} {:>16} params {:>12}\n", precision, count,
               human_bytes(info.bytes_by_precision[precision]));
  }
  fmt::print("shards         {}\n", info.shards.size());
  for (const auto& shard : info.shards) fmt::print("  {}\n", shard);
  if (!info.skipped_tensors.empty()) {
    fmt::print("not used       {} tensors (e.g. {})\n", info.skipped_tensors.size(),
               info.skipped_tensors.front());
  }
  return 0;
}

}  // namespace

Command register_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "Describe a checkpoint: architecture, precisions, shards");
  auto model_dir = std::make_shared<std::string>();
  *model_dir = default_model_dir();
  sub->add_option("-m,--model", *model_dir, "checkpoint directory or .safetensors file")
      ->capture_default_str();
  return {sub, [model_dir] { return run_info(*model_dir); }};
}

}  // namespace mimo::cli
