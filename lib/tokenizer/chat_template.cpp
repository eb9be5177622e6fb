// Native rendering of ChatML chat templates. Instead of a Jinja engine, the template source is
// recognized as one of the ChatML variants below, and rendered the way that variant's Jinja
// does (checked against @huggingface/jinja in tests/tokenizer/conformance).
#include "mimo/chat_template.hpp"

#include <fmt/format.h>

#include "mimo/error.hpp"

namespace mimo {

namespace {

constexpr std::string_view kStart = "<|im_start|>";
constexpr std::string_view kEnd = "<|im_end|>";

std::string_view strip_left(std::string_view s, char c) {
  while (!s.empty() && s.front() == c) s.remove_prefix(1);
  return s;
}
std::string_view strip_right(std::string_view s, char c) {
  while (!s.empty() && s.back() == c) s.remove_suffix(1);
  return s;
}
bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Python's s.split(sep)[0] and s.split(sep)[-1].
std::string_view before_first(std::string_view s, std::string_view sep) {
  const auto pos = s.find(sep);
  return pos == std::string_view::npos ? s : s.substr(0, pos);
}
std::string_view after_last(std::string_view s, std::string_view sep) {
  const auto pos = s.rfind(sep);
  return pos == std::string_view::npos ? s : s.substr(pos + sep.size());
}

// A literal default system prompt, as Qwen2.5's template writes
// '<|im_start|>system\nYou are ...<|im_end|>\n' in its else-branch.
std::string find_default_system(const std::string& source) {
  const std::string opening = "<|im_start|>system\\n";
  for (std::size_t pos = source.find(opening); pos != std::string::npos;
       pos = source.find(opening, pos + 1)) {
    const std::size_t text_begin = pos + opening.size();
    const std::size_t text_end = source.find(kEnd, text_begin);
    if (text_end == std::string::npos) break;
    const std::string text = source.substr(text_begin, text_end - text_begin);
    if (text.find_first_of("'\"{}+") == std::string::npos && !text.empty()) return text;
  }
  return {};
}

// Qwen3's Jinja silently drops turns of other roles; refusing them is kinder.
void check_role(const ChatMessage& message, std::size_t index) {
  const std::string& role = message.role;
  if (role == "system" || role == "user" || role == "assistant" || role == "tool") return;
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("chat message {} has role {:?}; expected system, user, assistant or tool",
                          index, role));
}

std::string render_chatml(const std::vector<ChatMessage>& messages,
                          const ChatTemplateOptions& options, const std::string& default_system) {
  std::string out;
  if (!default_system.empty() && messages.front().role != "system") {
    out += fmt::format("{}system\n{}{}\n", kStart, default_system, kEnd);
  }
  // Plain ChatML writes any role as given (the Jinja does too).
  for (std::size_t i = 0; i < messages.size(); ++i) {
    out += fmt::format("{}{}\n{}{}\n", kStart, messages[i].role, messages[i].content, kEnd);
  }
  if (options.add_generation_prompt) out += fmt::format("{}assistant\n", kStart);
  return out;
}

// Qwen3's template (without tool definitions): reasoning of assistant turns before the last
// user query is dropped; later ones carry a <think> block.
std::string render_thinking(const std::vector<ChatMessage>& messages,
                            const ChatTemplateOptions& options) {
  std::string out;
  if (messages.front().role == "system") {
    out += fmt::format("{}system\n{}{}\n", kStart, messages.front().content, kEnd);
  }
  std::size_t last_query = messages.size() - 1;
  for (std::size_t i = messages.size(); i-- > 0;) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" &&
        !(starts_with(m.content, "<tool_response>") && ends_with(m.content, "</tool_response>"))) {
      last_query = i;
      break;
    }
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    check_role(m, i);
    const bool last = i + 1 == messages.size();
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      out += fmt::format("{}{}\n{}{}\n", kStart, m.role, m.content, kEnd);
    } else if (m.role == "assistant") {
      std::string_view content = m.content;
      std::string_view reasoning;
      if (m.reasoning_content) {
        reasoning = *m.reasoning_content;
      } else if (content.find("</think>") != std::string_view::npos) {
        content = strip_left(after_last(m.content, "</think>"), '\n');
        reasoning = strip_left(
            after_last(strip_right(before_first(m.content, "</think>"), '\n'), "<think>"), '\n');
      }
      out += fmt::format("{}assistant\n", kStart);
      if (i > last_query && (last || !reasoning.empty())) {
        out +=
            fmt::format("<think>\n{}\n</think>\n\n{}",
                        strip_right(strip_left(reasoning, '\n'), '\n'), strip_left(content, '\n'));
      } else {
        out += content;
      }
      out += fmt::format("{}\n", kEnd);
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") out += fmt::format("{}user", kStart);
      out += fmt::format("\n<tool_response>\n{}\n</tool_response>", m.content);
      if (last || messages[i + 1].role != "tool") out += fmt::format("{}\n", kEnd);
    }
  }
  if (options.add_generation_prompt) {
    out += fmt::format("{}assistant\n", kStart);
    if (options.enable_thinking == false) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

}  // namespace

ChatTemplate ChatTemplate::from_source(const std::string& source, const std::string& origin) {
  if (source.find(kStart) == std::string::npos || source.find(kEnd) == std::string::npos) {
    throw Error(
        ErrorCode::kUnsupported,
        fmt::format("{}: the chat template is not ChatML (no <|im_start|> / <|im_end|>); mimo "
                    "renders only ChatML-family templates natively",
                    origin));
  }
  if (source.find("</think>") != std::string::npos) {
    return ChatTemplate(ChatTemplateStyle::kChatMLThinking, "");
  }
  return ChatTemplate(ChatTemplateStyle::kChatML, find_default_system(source));
}

ChatTemplate ChatTemplate::chatml(std::string default_system) {
  return ChatTemplate(ChatTemplateStyle::kChatML, std::move(default_system));
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 const ChatTemplateOptions& options) const {
  if (messages.empty())
    throw Error(ErrorCode::kInvalidArgument, "chat template: no messages to render");
  return style_ == ChatTemplateStyle::kChatMLThinking
             ? render_thinking(messages, options)
             : render_chatml(messages, options, default_system_);
}

}  // namespace mimo
