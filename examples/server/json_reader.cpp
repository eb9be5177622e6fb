// Field-by-field reading of JSON request bodies (json_reader.hpp).
#include "server/json_reader.hpp"

#include <fmt/format.h>

namespace mimo::server {

using nlohmann::json;

namespace {
struct TooDeep {};
}  // namespace

json parse_json(const std::string& body, int max_depth) {
  // The callback sees every nesting level as it is entered: a depth bound keeps hostile bodies
  // ([[[[...) from costing more than their size.
  json::parser_callback_t guard = [max_depth](int depth, json::parse_event_t, json&) {
    if (depth > max_depth) throw TooDeep{};
    return true;
  };
  try {
    return json::parse(body, guard);
  } catch (const TooDeep&) {
    throw invalid_request(fmt::format("the JSON body nests deeper than {} levels", max_depth));
  } catch (const json::exception& e) {
    throw invalid_request(
        fmt::format("We could not parse the JSON body of your request ({})", e.what()));
  }
}

const json* Reader::get(const std::string& key) {
  seen_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> Reader::number(const std::string& key, double lo, double hi) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(key, "a number", *v);
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) {
    throw invalid_request(
        fmt::format("'{}' must be between {} and {}, got {}", path(key), lo, hi, v->dump()),
        path(key), "invalid_value");
  }
  return x;
}

std::optional<std::int64_t> Reader::integer(const std::string& key, std::int64_t lo,
                                            std::int64_t hi) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw wrong_type(key, "an integer", *v);
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
    throw out_of_range(key, lo, hi, *v);
  }
  const std::int64_t x = v->get<std::int64_t>();
  if (x < lo || x > hi) throw out_of_range(key, lo, hi, *v);
  return x;
}

std::optional<bool> Reader::boolean(const std::string& key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw wrong_type(key, "a boolean", *v);
  return v->get<bool>();
}

std::optional<std::string> Reader::string(const std::string& key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw wrong_type(key, "a string", *v);
  return v->get<std::string>();
}

const json* Reader::object(const std::string& key) {
  const json* v = get(key);
  if (v && !v->is_object()) throw wrong_type(key, "an object", *v);
  return v;
}

const json* Reader::array(const std::string& key) {
  const json* v = get(key);
  if (v && !v->is_array()) throw wrong_type(key, "an array", *v);
  return v;
}

void Reader::reject_unknown() const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (!seen_.count(it.key())) {
      throw invalid_request(
          fmt::format("Unrecognized or unsupported request argument '{}'", path(it.key())),
          path(it.key()), "unsupported_parameter");
    }
  }
}

ApiError Reader::wrong_type(const std::string& key, const char* expected, const json& got) const {
  return invalid_request(
      fmt::format("'{}' must be {}, got {}", path(key), expected, got.type_name()), path(key),
      "invalid_type");
}

ApiError Reader::out_of_range(const std::string& key, std::int64_t lo, std::int64_t hi,
                              const json& got) const {
  return invalid_request(
      fmt::format("'{}' must be between {} and {}, got {}", path(key), lo, hi, got.dump()),
      path(key), "invalid_value");
}

ApiError unsupported(const std::string& param, const std::string& why) {
  return invalid_request(fmt::format("'{}' {}", param, why), param, "unsupported_parameter");
}

void require_object(const json& v, const std::string& at) {
  if (!v.is_object()) {
    throw invalid_request(fmt::format("'{}' must be an object", at), at, "invalid_type");
  }
}

}  // namespace mimo::server
