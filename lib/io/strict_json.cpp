// Strict JSON parsing: duplicate keys and deep nesting are errors.
#include "io/strict_json.hpp"

#include <fmt/format.h>

#include <set>
#include <vector>

#include "mimo/error.hpp"

namespace mimo::io {
namespace {

constexpr int kMaxDepth = 64;

}  // namespace

nlohmann::json parse_json_strict(std::string_view text, const std::string& label) {
  using nlohmann::json;
  // Keys seen so far in each object being parsed, innermost last.
  std::vector<std::set<std::string>> open_objects;
  auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxDepth) {
      throw Error(ErrorCode::kInvalidFile,
                  fmt::format("{}: JSON nested deeper than {} levels", label, kMaxDepth));
    }
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second) {
          throw Error(ErrorCode::kInvalidFile,
                      fmt::format("{}: duplicate JSON key \"{}\"", label, key));
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: invalid JSON: {}", label, e.what()));
  }
}

}  // namespace mimo::io
