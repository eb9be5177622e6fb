// JSON parsing for checkpoint metadata that rejects what nlohmann accepts silently: duplicate
// object keys (nlohmann keeps the last) and absurd nesting.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mimo::io {

// Parses `text` as one JSON value. Throws mimo::Error(kInvalidFile) naming `label` on invalid
// JSON or UTF-8, a key repeated within one object, or nesting deeper than 64 levels.
nlohmann::json parse_json_strict(std::string_view text, const std::string& label);

}  // namespace mimo::io
