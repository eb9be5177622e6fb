// libFuzzer entry: arbitrary bytes as a config.json, read both as a MiMo-V2 model config and as a
// DFlash drafter config. Parsing must succeed with a self-consistent result or throw mimo::Error
// - never crash, leak another exception type, or accept an inconsistent config.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "io/strict_json.hpp"
#include "mimo/error.hpp"
#include "model/config_parse.hpp"
#include "model/drafter_config.hpp"

namespace {

void check_model(const mimo::model::ModelConfig& c) {
  if (c.num_layers <= 0 || c.layers.size() != static_cast<std::size_t>(c.num_layers)) std::abort();
  for (const mimo::model::AttentionSpec* a : {&c.full, &c.sliding}) {
    if (a->num_kv_heads <= 0 || a->num_heads % a->num_kv_heads != 0) std::abort();
    if (a->rotary_dim < 2 || a->rotary_dim > a->head_dim || a->rotary_dim % 2 != 0) std::abort();
  }
  if (c.sliding_window <= 0 || c.hidden_size <= 0 || c.vocab_size <= 0) std::abort();
}

void check_drafter(const mimo::model::DrafterConfig& d) {
  if (d.block_size <= 0 || d.target_layer_ids.empty()) std::abort();
  if (d.num_kv_heads <= 0 || d.num_heads % d.num_kv_heads != 0) std::abort();
  if (!d.layer_types.empty() && d.layer_types.size() != static_cast<std::size_t>(d.num_layers)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::json config;
  try {
    config = mimo::io::parse_json_strict(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  } catch (const mimo::Error&) {
    return 0;
  }
  try {
    check_model(mimo::model::parse_model_config(config, "fuzz/config.json"));
  } catch (const mimo::Error&) {
  }
  try {
    check_drafter(mimo::model::parse_drafter_config(config, "fuzz/config.json"));
  } catch (const mimo::Error&) {
  }
  return 0;
}
