// Typed config field access (see json_fields.hpp).
#include "model/json_fields.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace mimo::model {

namespace {

std::string short_dump(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

}  // namespace

JsonFields::JsonFields(const nlohmann::json& object, std::string label, std::string prefix)
    : object_(&object), label_(std::move(label)), prefix_(std::move(prefix)) {
  if (!object.is_object()) {
    throw Error(ErrorCode::kInvalidFile,
                fmt::format("{}: {} must be a JSON object, found {}", label_,
                            prefix_.empty() ? std::string("the config")
                                            : prefix_.substr(0, prefix_.size() - 1),
                            short_dump(object)));
  }
}

const nlohmann::json* JsonFields::find(std::string_view key) const {
  auto it = object_->find(std::string(key));
  if (it == object_->end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::has(std::string_view key) const {
  return find(key) != nullptr;
}

void JsonFields::fail(ErrorCode code, std::string_view key, const std::string& what) const {
  throw Error(code, fmt::format("{}: field '{}': {}", label_, field(key), what));
}

void JsonFields::wrong_type(std::string_view key, const nlohmann::json& value,
                            const char* expected) const {
  fail(ErrorCode::kInvalidFile, key,
       fmt::format("expected {}, found {} {}", expected, value.type_name(), short_dump(value)));
}

int JsonFields::to_int(std::string_view key, const nlohmann::json& value) const {
  // Integral floats ("4096.0") are accepted: Python writes them for int-valued products.
  double number = 0.0;
  if (value.is_number_integer()) {
    if (value.is_number_unsigned()) {
      auto u = value.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
        fail(ErrorCode::kInvalidFile, key, fmt::format("integer {} out of range", u));
      }
      return static_cast<int>(u);
    }
    auto i = value.get<std::int64_t>();
    if (i > std::numeric_limits<int>::max() || i < std::numeric_limits<int>::min()) {
      fail(ErrorCode::kInvalidFile, key, fmt::format("integer {} out of range", i));
    }
    return static_cast<int>(i);
  }
  if (!value.is_number_float()) wrong_type(key, value, "an integer");
  number = value.get<double>();
  if (!std::isfinite(number) || number != std::floor(number) ||
      std::fabs(number) > std::numeric_limits<int>::max()) {
    wrong_type(key, value, "an integer");
  }
  return static_cast<int>(number);
}

std::optional<int> JsonFields::opt_int(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  return to_int(key, *value);
}

std::optional<double> JsonFields::opt_double(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) wrong_type(key, *value, "a number");
  double number = value->get<double>();
  if (!std::isfinite(number)) fail(ErrorCode::kInvalidFile, key, "not a finite number");
  return number;
}

std::optional<bool> JsonFields::opt_bool(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) wrong_type(key, *value, "true or false");
  return value->get<bool>();
}

std::optional<std::string> JsonFields::opt_string(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) wrong_type(key, *value, "a string");
  return value->get<std::string>();
}

std::optional<std::vector<int>> JsonFields::opt_int_list(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_array()) wrong_type(key, *value, "a list of integers");
  std::vector<int> out;
  out.reserve(value->size());
  for (std::size_t i = 0; i < value->size(); ++i) {
    out.push_back(to_int(fmt::format("{}[{}]", key, i), (*value)[i]));
  }
  return out;
}

std::optional<std::vector<std::string>> JsonFields::opt_string_list(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_array()) wrong_type(key, *value, "a list of strings");
  std::vector<std::string> out;
  out.reserve(value->size());
  for (std::size_t i = 0; i < value->size(); ++i) {
    const nlohmann::json& item = (*value)[i];
    if (!item.is_string()) wrong_type(fmt::format("{}[{}]", key, i), item, "a string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<JsonFields> JsonFields::opt_object(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_object()) wrong_type(key, *value, "an object");
  return JsonFields(*value, label_, field(key) + ".");
}

std::string positive_float32_problem(double value) {
  constexpr float kMin = std::numeric_limits<float>::min();
  constexpr float kMax = std::numeric_limits<float>::max();
  if (value >= kMin && value <= kMax) return {};
  return fmt::format("{} must be positive and within float32's normal range [{}, {}]", value, kMin,
                     kMax);
}

}  // namespace mimo::model
