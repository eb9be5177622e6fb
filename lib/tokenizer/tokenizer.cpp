// mimo::Tokenizer: the encode pipeline (added tokens -> NFC -> Split regex -> byte-level BPE ->
// post-processor) and decoding.
#include "mimo/tokenizer.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "errors/foreign_errors.hpp"
#include "mimo/error.hpp"
#include "tokenizer/nfc.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/utf8.hpp"

namespace mimo {

namespace {

// Splits `text` by the pre-tokenizer regexes and BPE-encodes each piece.
void encode_text(const Tokenizer::Impl& impl, std::string_view text, std::vector<TokenId>& out) {
  if (text.empty()) return;
  std::string prefixed;
  if (impl.add_prefix_space && text.front() != ' ') {
    prefixed = " " + std::string(text);
    text = prefixed;
  }
  thread_local std::vector<std::string_view> pieces, next_pieces;
  pieces.clear();
  pieces.push_back(text);
  for (const auto& splitter : impl.splitters) {
    next_pieces.clear();
    for (std::string_view piece : pieces) splitter->split(piece, next_pieces);
    std::swap(pieces, next_pieces);
  }
  for (std::string_view piece : pieces) impl.bpe->encode_word(piece, out);
}

void encode_unmatched(const Tokenizer::Impl& impl, std::string_view text,
                      std::vector<TokenId>& out) {
  std::string normalized;
  if (impl.normalize_nfc && !tokenizer::is_trivially_nfc(text)) {
    normalized = tokenizer::nfc(text);
    text = normalized;
  }
  if (impl.normalized_added->empty()) {
    encode_text(impl, text, out);
    return;
  }
  std::vector<tokenizer::Segment> segments;
  impl.normalized_added->split(text, segments);
  for (const auto& segment : segments) {
    if (segment.token_id >= 0) {
      out.push_back(segment.token_id);
    } else {
      encode_text(impl, segment.text, out);
    }
  }
}

// HF's clean_up_tokenization: drop the space tokenizers of old put before punctuation.
std::string clean_up_spaces(std::string text) {
  static const std::pair<const char*, const char*> kReplacements[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kReplacements) {
    const std::string_view needle(from);
    std::string result;
    std::size_t pos = 0;
    for (std::size_t hit; (hit = text.find(needle, pos)) != std::string::npos;
         pos = hit + needle.size()) {
      result.append(text, pos, hit - pos);
      result.append(to);
    }
    result.append(text, pos, std::string::npos);
    text = std::move(result);
  }
  return text;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json,
                               const std::string& tokenizer_config_json) try {
  return Tokenizer(tokenizer::load_tokenizer(tokenizer_json, tokenizer_config_json));
} catch (...) {
  rethrow_as_mimo_error(tokenizer_json);
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) try {
  const std::filesystem::path root(dir);
  const auto json_path = root / "tokenizer.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(json_path, ec)) {
    throw Error(ErrorCode::kIo, fmt::format("{}: no tokenizer.json in this directory", dir));
  }
  const auto config_path = root / "tokenizer_config.json";
  const bool has_config = std::filesystem::is_regular_file(config_path, ec);
  return from_file(json_path.string(), has_config ? config_path.string() : std::string());
} catch (...) {
  rethrow_as_mimo_error(dir);
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& impl = *impl_;
  std::string sanitized;
  if (!tokenizer::is_valid_utf8(text)) {
    sanitized = tokenizer::sanitize_utf8(text);
    text = sanitized;
  }
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids.insert(ids.end(), impl.prefix_ids.begin(), impl.prefix_ids.end());
  if (impl.raw_added->empty()) {
    encode_unmatched(impl, text, ids);
  } else {
    std::vector<tokenizer::Segment> segments;
    impl.raw_added->split(text, segments);
    for (const auto& segment : segments) {
      if (segment.token_id >= 0) {
        ids.push_back(segment.token_id);
      } else {
        encode_unmatched(impl, segment.text, ids);
      }
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), impl.suffix_ids.begin(), impl.suffix_ids.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const {
  const Impl& impl = *impl_;
  std::string bytes;
  for (TokenId id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= impl.present.size() || !impl.present[id])
      continue;
    if (skip_special_tokens && impl.special[id]) continue;
    bytes += impl.token_raw[id];
  }
  std::string text = tokenizer::sanitize_utf8(bytes);
  if (impl.clean_up_tokenization_spaces) text = clean_up_spaces(std::move(text));
  return text;
}

std::optional<std::string> Tokenizer::id_to_token(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= impl_->present.size() || !impl_->present[id]) {
    return std::nullopt;
  }
  return impl_->tokens[id];
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  const auto it = impl_->token_ids.find(std::string(token));
  if (it == impl_->token_ids.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::token_bytes(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= impl_->present.size()) return {};
  return impl_->token_raw[id];
}

std::size_t Tokenizer::vocab_size() const {
  return impl_->present.size();
}

bool Tokenizer::is_special(TokenId id) const {
  return id >= 0 && static_cast<std::size_t>(id) < impl_->special.size() && impl_->special[id];
}

std::optional<TokenId> Tokenizer::bos_id() const {
  return impl_->bos;
}
std::optional<TokenId> Tokenizer::eos_id() const {
  return impl_->eos;
}
std::optional<TokenId> Tokenizer::pad_id() const {
  return impl_->pad;
}

bool Tokenizer::has_chat_template() const {
  return impl_->chat_template.has_value();
}

const ChatTemplate& Tokenizer::chat_template() const {
  if (!impl_->chat_template) throw Error(ErrorCode::kUnsupported, impl_->chat_template_error);
  return *impl_->chat_template;
}

std::string Tokenizer::apply_chat_template(const std::vector<ChatMessage>& messages,
                                           const ChatTemplateOptions& options) const {
  return chat_template().render(messages, options);
}

}  // namespace mimo
