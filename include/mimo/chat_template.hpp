// mimo::ChatTemplate: renders a conversation into the prompt text a chat model expects, by
// running the `chat_template` of tokenizer_config.json (a Jinja template) through mimo's own
// Jinja engine, the way transformers' apply_chat_template does: byte for byte what
// @huggingface/jinja renders (checked in CI on the templates of 40 model families).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mimo/export.hpp"

namespace mimo {

// One tool call of an assistant turn; the template sees
// {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}, where
// `arguments` is a mapping when arguments_json holds a JSON object and the text otherwise.
struct ChatToolCall {
  std::string id;  // left out of the call when empty
  std::string name;
  std::string arguments_json;
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool", or whatever the template handles
  std::string content;
  // Thinking text of an assistant turn, for templates that render <think> blocks.
  std::optional<std::string> reasoning_content;
  std::vector<ChatToolCall> tool_calls;     // assistant turns
  std::optional<std::string> tool_call_id;  // tool results: the call they answer
  // The participant's name (OpenAI's `name`); for tool results the function's.
  std::optional<std::string> name;
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;  // end with the opening of an assistant turn
  // Thinking templates (Qwen3 style): false asks for no thinking; unset leaves it undefined.
  std::optional<bool> enable_thinking;
  // Tool definitions as a JSON array, each as transformers takes them:
  // {"type": "function", "function": {"name", "description", "parameters"}}. Empty: no tools
  // (the template sees tools = none, as transformers passes it).
  std::string tools_json;
  // More template variables as a JSON object (e.g. {"reasoning_effort": "high"}); empty: none.
  std::string extra_context_json;
  // The clock strftime_now() reads, in seconds since the epoch (shown in the local time zone,
  // TZ); unset: the current time. Fixing it makes prompts of date-printing templates reproducible.
  std::optional<std::int64_t> now;
};

// The special tokens transformers hands every template (empty ones are left undefined).
struct ChatSpecialTokens {
  std::string bos_token;
  std::string eos_token;
  std::string unk_token;
  std::string pad_token;
};

class MIMO_API ChatTemplate {
 public:
  // Parses `source` (a Jinja template); `origin` names where it came from in messages. Throws
  // Error(kUnsupported) naming origin, line and column when the template does not parse
  // (malformed, or a construct mimo's engine lacks).
  static ChatTemplate from_source(const std::string& source, const std::string& origin,
                                  const ChatSpecialTokens& special_tokens = {});
  // A plain ChatML template (<|im_start|>role\ncontent<|im_end|>\n), optionally with a system
  // prompt used when the conversation does not start with one.
  static ChatTemplate chatml(const std::string& default_system = "");

  // Renders the conversation. Throws Error(kInvalidArgument) for an empty conversation, bad
  // tools / extra-context JSON, or when rendering fails: the template's raise_exception() (how
  // templates refuse unknown roles or bad turn orders) or a type error, the message naming the
  // template line and column; Error(kOutOfRange) when a bound on nesting, steps or output size is
  // exceeded.
  std::string render(const std::vector<ChatMessage>& messages,
                     const ChatTemplateOptions& options = {}) const;
  const std::string& source() const;

  struct Impl;  // internal to libmimo

 private:
  explicit ChatTemplate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace mimo
