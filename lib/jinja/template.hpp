// jinja::Template: the engine's entry point. Parses a Hugging Face chat template once and
// renders it against JSON data (messages, tools, flags), matching @huggingface/jinja's output.
// Every failure is a mimo::Error whose message names the origin, line and column:
//   kUnsupported      the template does not parse (malformed, or syntax mimo lacks)
//   kInvalidArgument  rendering failed: the template's raise_exception(), or a type error
//   kOutOfRange       a bound on nesting, steps or sizes was exceeded (see limits.hpp)
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "jinja/ast.hpp"
#include "jinja/limits.hpp"

namespace mimo::jinja {

class Template {
 public:
  Template(std::string source, std::string origin, Limits limits = {});
  // `context` must be a JSON object; its members become the template's variables.
  // `now` (seconds since the epoch) fixes the clock strftime_now() reads; tests use it.
  std::string render(const nlohmann::ordered_json& context,
                     std::optional<std::int64_t> now = std::nullopt) const;
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::string origin_;
  Limits limits_;
  std::shared_ptr<const NodeList> program_;  // shared so that copies stay cheap
};

}  // namespace mimo::jinja
