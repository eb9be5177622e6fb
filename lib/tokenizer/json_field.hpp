// Typed, path-aware access to a parsed tokenizer file: every wrong type or missing field becomes a
// mimo::Error naming the file and the JSON path (`added_tokens[3].id`) and what was expected,
// never a raw nlohmann exception. Fields are borrowed by reference: no subtree is copied.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "mimo/error.hpp"
#include "mimo/tokenizer.hpp"

namespace mimo::tokenizer {

class JsonField {
 public:
  // `file` must outlive the field and everything derived from it.
  JsonField(const nlohmann::json& value, const std::string& file, std::string path)
      : value_(&value), file_(&file), path_(std::move(path)) {}

  const nlohmann::json& raw() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }
  bool is_null() const { return value_->is_null(); }

  // Members of an object: `member` is null when absent (optional fields); `required` fails.
  bool has(const char* name) const;
  JsonField member(const char* name) const;
  JsonField required(const char* name) const;
  JsonField element(std::size_t index) const;  // of an array

  // Checked reads of this value.
  const nlohmann::json& object() const;
  const nlohmann::json& array() const;
  const std::string& string() const;
  bool boolean() const;
  TokenId token_id() const;  // an integer in [0, 2^31 - 1]

  // Optional members: the fallback when absent or null, an error when of another type.
  std::string string_or(const char* name, const std::string& fallback) const;
  bool bool_or(const char* name, bool fallback) const;

  [[noreturn]] void fail(ErrorCode code, const std::string& what) const;
  [[noreturn]] void expected(const char* what) const;  // "<path>: expected X, found <type>"

 private:
  const nlohmann::json* value_;
  const std::string* file_;
  std::string path_;
};

// The id a JSON number stands for, or an error naming `file` and `path`: ids are integers in
// [0, 2^31 - 1] (mimo::TokenId is int32); floats, negatives and larger values are refused.
TokenId checked_token_id(const nlohmann::json& value, const std::string& file,
                         const std::string& path);

}  // namespace mimo::tokenizer
