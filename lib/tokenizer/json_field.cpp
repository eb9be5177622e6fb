// JsonField: the checks behind every field read of tokenizer.json / tokenizer_config.json.
#include "tokenizer/json_field.hpp"

#include <fmt/format.h>

#include <limits>

namespace mimo::tokenizer {

namespace {

using nlohmann::json;

const json& null_json() {
  static const json kNull;
  return kNull;
}

std::string join(const std::string& path, const char* name) {
  return path.empty() ? std::string(name) : path + "." + name;
}

}  // namespace

void JsonField::fail(ErrorCode code, const std::string& what) const {
  throw Error(code, fmt::format("{}: {}: {}", *file_, path_.empty() ? "(root)" : path_, what));
}

void JsonField::expected(const char* what) const {
  fail(ErrorCode::kInvalidFile, fmt::format("expected {}, found {}", what, value_->type_name()));
}

bool JsonField::has(const char* name) const {
  return value_->is_object() && value_->contains(name);
}

JsonField JsonField::member(const char* name) const {
  object();
  const auto it = value_->find(name);
  return JsonField(it == value_->end() ? null_json() : *it, *file_, join(path_, name));
}

JsonField JsonField::required(const char* name) const {
  if (!object().contains(name)) fail(ErrorCode::kInvalidFile, fmt::format("no field \"{}\"", name));
  return member(name);
}

JsonField JsonField::element(std::size_t index) const {
  return JsonField(array()[index], *file_, fmt::format("{}[{}]", path_, index));
}

const json& JsonField::object() const {
  if (!value_->is_object()) expected("an object");
  return *value_;
}

const json& JsonField::array() const {
  if (!value_->is_array()) expected("an array");
  return *value_;
}

const std::string& JsonField::string() const {
  if (!value_->is_string()) expected("a string");
  return value_->get_ref<const std::string&>();
}

bool JsonField::boolean() const {
  if (!value_->is_boolean()) expected("true or false");
  return value_->get<bool>();
}

TokenId JsonField::token_id() const {
  return checked_token_id(*value_, *file_, path_);
}

std::string JsonField::string_or(const char* name, const std::string& fallback) const {
  const JsonField field = member(name);
  return field.is_null() ? fallback : field.string();
}

bool JsonField::bool_or(const char* name, bool fallback) const {
  const JsonField field = member(name);
  return field.is_null() ? fallback : field.boolean();
}

TokenId checked_token_id(const json& value, const std::string& file, const std::string& path) {
  constexpr auto kMax = std::numeric_limits<TokenId>::max();
  auto refuse = [&](const std::string& what) -> TokenId {
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: {}: {}", file, path, what));
  };
  if (value.is_number_unsigned()) {
    const auto id = value.get<std::uint64_t>();
    if (id > static_cast<std::uint64_t>(kMax)) {
      return refuse(fmt::format("token id {} is beyond the largest id {} (int32)", id, kMax));
    }
    return static_cast<TokenId>(id);
  }
  if (value.is_number_integer()) {  // signed: only negatives get here
    return refuse(fmt::format("token id {} is negative", value.get<std::int64_t>()));
  }
  return refuse(fmt::format("expected a token id (a non-negative integer), found {}{}",
                            value.type_name(), value.is_number_float() ? " " + value.dump() : ""));
}

}  // namespace mimo::tokenizer
