// libFuzzer entry: arbitrary bytes as a chat template, parsed and rendered over a conversation
// with tools, tool calls and reasoning. Parsing and rendering must succeed or throw mimo::Error -
// never crash, hang, leak or throw another type. The engine's bounds are tightened so that
// every input finishes quickly.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "jinja/template.hpp"
#include "mimo/error.hpp"

namespace {

const nlohmann::ordered_json& conversation() {
  static const nlohmann::ordered_json context = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "", "reasoning_content": "Call the tool.",
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
      {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "21C"},
      {"role": "assistant", "content": "<think>\nok\n</think>\n\nIt is 21C."}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "documents": null,
    "add_generation_prompt": true,
    "enable_thinking": false,
    "bos_token": "<s>",
    "eos_token": "</s>"
  })");
  return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mimo::jinja::Limits limits;
  limits.max_steps = 200'000;
  limits.max_string_bytes = 1u << 20;
  limits.max_array_items = 1u << 14;
  try {
    const mimo::jinja::Template tmpl(std::string(reinterpret_cast<const char*>(data), size), "fuzz",
                                     limits);
    tmpl.render(conversation(), 1721995200);
  } catch (const mimo::Error&) {
  }
  return 0;
}
