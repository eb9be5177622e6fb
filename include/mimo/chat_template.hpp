// mimo::ChatTemplate: renders a conversation into the prompt text a chat model expects. The
// ChatML family (<|im_start|>role\n...<|im_end|>, as Qwen and MiMo use) is rendered natively
// from the `chat_template` of tokenizer_config.json; other templates are refused with a clear
// Error(kUnsupported) rather than rendered wrongly.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mimo/export.hpp"

namespace mimo {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
  // Thinking text of an assistant turn, for templates that render <think> blocks.
  std::optional<std::string> reasoning_content;
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;  // end with the opening of an assistant turn
  // Thinking templates: false adds an empty <think></think> block to the generation prompt.
  std::optional<bool> enable_thinking;
};

enum class ChatTemplateStyle {
  kChatML,          // plain <|im_start|>role\ncontent<|im_end|>\n turns
  kChatMLThinking,  // Qwen3 style: <think> blocks, reasoning_content, enable_thinking
};

class MIMO_API ChatTemplate {
 public:
  // Recognizes `source` (a Jinja template); `origin` names where it came from for messages.
  // Throws Error(kUnsupported) naming `origin` when the template is not ChatML-like.
  static ChatTemplate from_source(const std::string& source, const std::string& origin);
  // A plain ChatML template, optionally with a default system prompt.
  static ChatTemplate chatml(std::string default_system = "");

  // Throws Error(kInvalidArgument) for an unknown role or an empty conversation.
  std::string render(const std::vector<ChatMessage>& messages,
                     const ChatTemplateOptions& options = {}) const;
  ChatTemplateStyle style() const { return style_; }
  const std::string& default_system() const { return default_system_; }

 private:
  ChatTemplate(ChatTemplateStyle style, std::string default_system)
      : style_(style), default_system_(std::move(default_system)) {}
  ChatTemplateStyle style_;
  std::string default_system_;  // used when the conversation does not start with a system turn
};

}  // namespace mimo
