// mimo::ChatTemplate: builds the variables transformers' apply_chat_template hands a chat
// template (messages, tools, add_generation_prompt, special tokens, ...) and renders the
// template with the Jinja engine of lib/jinja.
#include "mimo/chat_template.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "jinja/template.hpp"
#include "mimo/error.hpp"

namespace mimo {

using nlohmann::ordered_json;

struct ChatTemplate::Impl {
  jinja::Template engine;
  ordered_json base_context;  // special tokens (and chatml()'s default system prompt)
};

namespace {

// A ChatML template written out in Jinja; `default_system` is a template variable.
constexpr const char* kChatMLSource =
    "{%- if default_system and messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\n' + default_system + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// JSON the caller hands in (tools, extra context, tool-call arguments) nests at most this deep:
// nlohmann's copies and the conversion to template values recurse once per level.
constexpr int kMaxJsonDepth = 256;

struct TooDeep {};

// Parses `text` (discarded when malformed and !allow_exceptions); Error(kOutOfRange) naming
// `what` when it nests deeper than kMaxJsonDepth.
ordered_json parse_bounded(const std::string& text, const std::string& what,
                           bool allow_exceptions) {
  const ordered_json::parser_callback_t guard = [](int depth, ordered_json::parse_event_t,
                                                   ordered_json&) {
    if (depth > kMaxJsonDepth) throw TooDeep{};
    return true;
  };
  try {
    return ordered_json::parse(text, guard, allow_exceptions);
  } catch (const TooDeep&) {
    throw Error(ErrorCode::kOutOfRange,
                fmt::format("chat template: {} nests deeper than {} levels", what, kMaxJsonDepth));
  }
}

ordered_json parse_json(const std::string& text, const char* what) {
  try {
    return parse_bounded(text, what, true);
  } catch (const ordered_json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("chat template: {} is not JSON: {}", what, e.what()));
  }
}

// A tool call as transformers / OpenAI clients give it; arguments as a mapping when they are
// a JSON object (what templates that apply `| tojson` to them expect).
ordered_json tool_call_json(const ChatToolCall& call) {
  ordered_json arguments = call.arguments_json;
  ordered_json parsed =
      parse_bounded(call.arguments_json, "the arguments of tool call '" + call.name + "'", false);
  if (!parsed.is_discarded() && parsed.is_object()) arguments = std::move(parsed);
  ordered_json out = ordered_json::object();
  if (!call.id.empty()) out["id"] = call.id;
  out["type"] = "function";
  out["function"] = {{"name", call.name}, {"arguments", arguments}};
  return out;
}

ordered_json message_json(const ChatMessage& message) {
  ordered_json out = {{"role", message.role}, {"content", message.content}};
  if (message.reasoning_content) out["reasoning_content"] = *message.reasoning_content;
  if (!message.tool_calls.empty()) {
    ordered_json calls = ordered_json::array();
    for (const ChatToolCall& call : message.tool_calls) calls.push_back(tool_call_json(call));
    out["tool_calls"] = calls;
  }
  if (message.tool_call_id) out["tool_call_id"] = *message.tool_call_id;
  if (message.name) out["name"] = *message.name;
  return out;
}

}  // namespace

ChatTemplate ChatTemplate::from_source(const std::string& source, const std::string& origin,
                                       const ChatSpecialTokens& special_tokens) {
  ordered_json base = ordered_json::object();
  const std::pair<const char*, const std::string*> tokens[] = {
      {"bos_token", &special_tokens.bos_token},
      {"eos_token", &special_tokens.eos_token},
      {"unk_token", &special_tokens.unk_token},
      {"pad_token", &special_tokens.pad_token}};
  for (const auto& [name, text] : tokens) {
    if (!text->empty()) base[name] = *text;
  }
  return ChatTemplate(std::make_shared<const Impl>(Impl{jinja::Template(source, origin), base}));
}

ChatTemplate ChatTemplate::chatml(const std::string& default_system) {
  ordered_json base = {{"default_system", default_system}};
  return ChatTemplate(
      std::make_shared<const Impl>(Impl{jinja::Template(kChatMLSource, "ChatML"), base}));
}

const std::string& ChatTemplate::source() const {
  return impl_->engine.source();
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 const ChatTemplateOptions& options) const {
  if (messages.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "chat template: no messages to render");
  }
  ordered_json context = impl_->base_context;
  ordered_json turns = ordered_json::array();
  for (const ChatMessage& message : messages) turns.push_back(message_json(message));
  context["messages"] = std::move(turns);
  // transformers passes tools and documents as None when there are none.
  context["tools"] = nullptr;
  if (!options.tools_json.empty()) {
    ordered_json tools = parse_json(options.tools_json, "tools_json");
    if (!tools.is_array()) {
      throw Error(ErrorCode::kInvalidArgument, "chat template: tools_json must be a JSON array");
    }
    context["tools"] = std::move(tools);
  }
  context["documents"] = nullptr;
  context["add_generation_prompt"] = options.add_generation_prompt;
  if (options.enable_thinking) context["enable_thinking"] = *options.enable_thinking;
  if (!options.extra_context_json.empty()) {
    const ordered_json extra = parse_json(options.extra_context_json, "extra_context_json");
    if (!extra.is_object()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "chat template: extra_context_json must be a JSON object");
    }
    for (const auto& [key, value] : extra.items()) context[key] = value;
  }
  return impl_->engine.render(context, options.now);
}

}  // namespace mimo
