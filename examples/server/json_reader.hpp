// Reading a JSON request body field by field: the body parsed with a depth bound, and objects
// read through a Reader that checks each field's type and range and refuses every field that was
// not read - each failure an OpenAI-style invalid_request naming the field's path.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "server/api_error.hpp"

namespace mimo::server {

// The body as JSON; malformed or nested deeper than max_depth: invalid_request.
nlohmann::json parse_json(const std::string& body, int max_depth);

class Reader {
 public:
  // prefix: the object's path ("", "messages[0].").
  Reader(const nlohmann::json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  // The value, or nullptr when absent or JSON null.
  const nlohmann::json* get(const std::string& key);
  std::string path(const std::string& key) const { return prefix_ + key; }

  std::optional<double> number(const std::string& key, double lo, double hi);
  std::optional<std::int64_t> integer(const std::string& key, std::int64_t lo, std::int64_t hi);
  std::optional<bool> boolean(const std::string& key);
  std::optional<std::string> string(const std::string& key);
  const nlohmann::json* object(const std::string& key);
  const nlohmann::json* array(const std::string& key);

  // Refuses every field that was not read.
  void reject_unknown() const;

  ApiError wrong_type(const std::string& key, const char* expected,
                      const nlohmann::json& got) const;
  ApiError out_of_range(const std::string& key, std::int64_t lo, std::int64_t hi,
                        const nlohmann::json& got) const;

 private:
  const nlohmann::json& object_;
  std::string prefix_;
  std::set<std::string> seen_;
};

// A supported field with a value this server does not take.
ApiError unsupported(const std::string& param, const std::string& why);

// `v` (at path `at`) must be an object.
void require_object(const nlohmann::json& v, const std::string& at);

}  // namespace mimo::server
