// tokenizer_config.json: bos / eos / pad tokens, the chat template, clean_up_tokenization_spaces.
// Types are checked through JsonField like tokenizer.json's.
#include <fmt/format.h>

#include "io/strict_json.hpp"
#include "io/text_file.hpp"
#include "tokenizer/loader_parts.hpp"

namespace mimo::tokenizer {

namespace {

// A special token is written as "text" or {"content": "text", ...}; null means none.
std::optional<std::string> token_text(const JsonField& value) {
  if (value.is_null()) return std::nullopt;
  if (value.raw().is_string()) return value.string();
  if (value.raw().is_object()) return value.required("content").string();
  value.expected("a string or {\"content\": string}");
}

std::optional<std::string> chat_template_text(const JsonField& source) {
  if (source.is_null()) return std::nullopt;
  if (source.raw().is_string()) return source.string();
  if (!source.raw().is_array()) source.expected("a string or a list of {\"name\", \"template\"}");
  // A list of named templates: [{"name": "default", "template": "..."}, ...].
  std::optional<std::string> found;
  for (std::size_t i = 0, n = source.array().size(); i < n; ++i) {
    const JsonField named = source.element(i);
    if (named.required("name").string() == "default") found = named.required("template").string();
  }
  return found;
}

}  // namespace

nlohmann::json read_json_file(const std::string& path) {
  return io::parse_json_strict(io::read_text_file(path), path);
}

void load_tokenizer_config(Tokenizer::Impl& impl, const std::string& path) {
  const nlohmann::json parsed = read_json_file(path);
  const JsonField config(parsed, path, "");
  config.object();
  impl.clean_up_tokenization_spaces = config.bool_or("clean_up_tokenization_spaces", false);
  auto special_id = [&](const char* name) -> std::optional<TokenId> {
    const JsonField field = config.member(name);
    const auto text = token_text(field);
    if (!text) return std::nullopt;
    const auto it = impl.token_ids.find(*text);
    if (it == impl.token_ids.end()) {
      field.fail(ErrorCode::kInvalidFile,
                 fmt::format("{:?} is not a token of {}", *text, impl.origin));
    }
    return it->second;
  };
  impl.bos = special_id("bos_token");
  impl.eos = special_id("eos_token");
  impl.pad = special_id("pad_token");

  const JsonField source = config.member("chat_template");
  const std::optional<std::string> template_text = chat_template_text(source);
  if (!template_text) {
    impl.chat_template_error = fmt::format("{} has no chat_template", path);
    return;
  }
  try {
    // transformers hands the template the special tokens' text.
    ChatSpecialTokens tokens;
    tokens.bos_token = token_text(config.member("bos_token")).value_or("");
    tokens.eos_token = token_text(config.member("eos_token")).value_or("");
    tokens.unk_token = token_text(config.member("unk_token")).value_or("");
    tokens.pad_token = token_text(config.member("pad_token")).value_or("");
    impl.chat_template = ChatTemplate::from_source(*template_text, path + " chat_template", tokens);
  } catch (const Error& e) {
    impl.chat_template_error = e.what();
  }
}

}  // namespace mimo::tokenizer
