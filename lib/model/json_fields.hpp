// Typed, validated access to the fields of a JSON config object (config.json of a model or a
// drafter): a wrong type or an out-of-range value becomes a mimo::Error naming the file and the
// field, never a nlohmann exception.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mimo/error.hpp"

namespace mimo::model {

class JsonFields {
 public:
  // `object` must outlive this view. `label` names the file in messages; `prefix` is the path of
  // `object` inside it ("dflash_config.") for nested objects.
  JsonFields(const nlohmann::json& object, std::string label, std::string prefix = "");

  // Present and not null. JSON null means "absent" everywhere (Python None).
  bool has(std::string_view key) const;
  const nlohmann::json* find(std::string_view key) const;

  std::optional<int> opt_int(std::string_view key) const;
  std::optional<double> opt_double(std::string_view key) const;
  std::optional<bool> opt_bool(std::string_view key) const;
  std::optional<std::string> opt_string(std::string_view key) const;
  std::optional<std::vector<int>> opt_int_list(std::string_view key) const;
  std::optional<std::vector<std::string>> opt_string_list(std::string_view key) const;
  std::optional<JsonFields> opt_object(std::string_view key) const;

  int get_int(std::string_view key, int fallback) const { return opt_int(key).value_or(fallback); }
  double get_double(std::string_view key, double fallback) const {
    return opt_double(key).value_or(fallback);
  }
  bool get_bool(std::string_view key, bool fallback) const {
    return opt_bool(key).value_or(fallback);
  }

  // "dflash_config.block_size"
  std::string field(std::string_view key) const { return prefix_ + std::string(key); }
  const std::string& label() const { return label_; }

  // Throws mimo::Error(code, "<label>: field '<prefix+key>': <what>").
  [[noreturn]] void fail(ErrorCode code, std::string_view key, const std::string& what) const;

 private:
  int to_int(std::string_view key, const nlohmann::json& value) const;
  [[noreturn]] void wrong_type(std::string_view key, const nlohmann::json& value,
                               const char* expected) const;

  const nlohmann::json* object_;
  std::string label_;
  std::string prefix_;
};

// RoPE bases, scales and epsilons are used as float32: one that float32 cannot hold as a
// positive normal number (1e-300, 1e300) would become 0 or infinity there and the logits NaN.
// Empty when `value` is fine, else what is wrong with it.
std::string positive_float32_problem(double value);

}  // namespace mimo::model
