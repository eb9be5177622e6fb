// libFuzzer entry: arbitrary bytes as the body of POST /v1/chat/completions and
// /v1/completions (mimo-server's request parsing), and as generated text for the tool-call
// extractor in both formats, also after the opening a forced tool_choice puts before it (the
// named function's when the body parses with one). Parsing must succeed or throw ApiError - never
// crash, hang, leak or throw another type; the extractor must hand back exactly the text it was
// given, less the blocks it parsed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/api_error.hpp"
#include "server/request.hpp"
#include "server/tool_calls.hpp"

namespace {

// The function a parsed body's tool_choice names ("" when none, or when it does not parse).
std::string parse(mimo::server::Endpoint endpoint, const std::string& body) {
  static const mimo::server::ParseLimits limits{"demo", 8192};
  try {
    return mimo::server::parse_request(endpoint, body, limits).tool_choice_name;
  } catch (const mimo::server::ApiError& e) {
    if (e.status != 400 && e.status != 404) __builtin_trap();
  }
  return {};
}

void extract(mimo::server::ToolCallFormat format, const std::string& text) {
  mimo::server::ToolCallExtractor extractor(format);
  std::size_t content = 0;
  auto count = [&](const std::vector<mimo::server::ExtractedPiece>& pieces) {
    for (const auto& piece : pieces) content += piece.content.size();
  };
  for (std::size_t i = 0; i < text.size(); i += 3) count(extractor.push(text.substr(i, 3)));
  count(extractor.finish());
  if (content > text.size() || (extractor.calls() == 0 && content != text.size())) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string forced = parse(mimo::server::Endpoint::kChat, input);
  parse(mimo::server::Endpoint::kCompletion, input);
  for (auto format : {mimo::server::ToolCallFormat::kHermes, mimo::server::ToolCallFormat::kXml}) {
    extract(format, input);
    extract(format,
            mimo::server::forced_call_prefix(format, forced.empty() ? "f" : forced) + input);
  }
  return 0;
}
