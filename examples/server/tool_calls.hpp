// Tool calls in generated text: which format the chat template defines, and a streaming
// extractor that splits the model's output into plain content and parsed tool calls.
//
// Formats (docs/server.md, "Tools"):
//   hermes      <tool_call>{"name": "f", "arguments": {...}}</tool_call>     (Hermes, Qwen2.5/3)
//   xml         <tool_call><function=f><parameter=p>value</parameter></function></tool_call>
//               (Qwen3-Coder style; a value that parses as JSON is taken as that JSON)
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mimo::server {

enum class ToolCallFormat { kNone, kHermes, kXml };

// kNone when the template never mentions `tools` (it cannot render them), else the format its
// text shows (kHermes when it shows none of the markers).
ToolCallFormat detect_tool_call_format(const std::string& template_source);
const char* to_string(ToolCallFormat format);

struct ParsedToolCall {
  std::string name;
  std::string arguments_json;  // a JSON object, as text
};

// One tool-call block's inner text parsed, or nullopt when it is not a valid call.
std::optional<ParsedToolCall> parse_tool_call_block(ToolCallFormat format,
                                                    const std::string& block);

// The opening of a call block that a forced tool_choice puts at the start of the answer, after
// the template's generation prompt; the model writes the rest. No name ("required"): up to the
// function's name; a name: up to the arguments, so that the call is of that function.
//   hermes  <tool_call>\n{"name": "          <tool_call>\n{"name": "f", "arguments":
//   xml     <tool_call>\n<function=          <tool_call>\n<function=f>\n
std::string forced_call_prefix(ToolCallFormat format, const std::string& name);

struct ExtractedPiece {
  std::string content;                 // text outside tool-call blocks (may be empty)
  std::optional<ParsedToolCall> call;  // a completed block
};

// Feed complete UTF-8 text as it is generated; content is released as soon as it can no longer
// be the start of a tool-call block. A block that does not parse is released as content, as is
// an unterminated one at finish().
class ToolCallExtractor {
 public:
  explicit ToolCallExtractor(ToolCallFormat format) : format_(format) {}
  std::vector<ExtractedPiece> push(const std::string& text);
  std::vector<ExtractedPiece> finish();
  int calls() const { return calls_; }

 private:
  ToolCallFormat format_;
  std::string buffer_;
  bool in_block_ = false;
  int calls_ = 0;
};

}  // namespace mimo::server
