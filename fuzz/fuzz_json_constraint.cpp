// libFuzzer entry: arbitrary bytes as a JSON schema and a document (split at the first NUL; no
// NUL: the bytes are the document of json_object mode). Compiling a schema must succeed or throw
// mimo::Error; a document the grammar accepts must parse with nlohmann::json (an object in
// json_object mode), and the accepted prefix of any text must be accepted again on its own.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "mimo/error.hpp"
#include "mimo/json_constraint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find('\0');
  std::optional<mimo::JsonGrammar> grammar;
  std::string document = input;
  if (split == std::string::npos) {
    grammar = mimo::JsonGrammar::object();
  } else {
    document = input.substr(split + 1);
    try {
      grammar = mimo::JsonGrammar::schema(input.substr(0, split));
    } catch (const mimo::Error&) {
      return 0;
    }
  }
  const std::size_t prefix = grammar->accepted_prefix(document);
  if (prefix > document.size()) __builtin_trap();
  if (grammar->accepted_prefix(document.substr(0, prefix)) != prefix) __builtin_trap();
  if (grammar->accepts(document)) {
    if (!nlohmann::json::accept(document)) __builtin_trap();
    if (split == std::string::npos && !nlohmann::json::parse(document).is_object()) {
      __builtin_trap();
    }
  }
  return 0;
}
