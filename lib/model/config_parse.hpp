// Reading a MiMo-V2 config.json, in either schema (transformers' "mimo_v2_flash" or the hub's own
// "mimo_v2"), into the one ModelConfig; every unsupported or inconsistent setting is rejected
// with a mimo::Error naming the file and the field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "model/config.hpp"

namespace mimo::model {

// `label` names the file in messages (usually the config.json path).
// Throws mimo::Error: kInvalidFile for malformed / inconsistent values, kUnsupported for
// well-formed settings libmimo does not implement (other architectures, attention bias, ...).
ModelConfig parse_model_config(const nlohmann::json& config, const std::string& label);

// `path`: a checkpoint directory, its config.json, or a .safetensors file next to a config.json.
ModelConfig load_model_config(const std::string& path);

// The config.json a checkpoint path refers to (see load_model_config).
std::string config_json_path(const std::string& path);

// Reads and strictly parses a JSON file; kIo when unreadable, kInvalidFile when not JSON.
nlohmann::json read_json_file(const std::string& path);

}  // namespace mimo::model
