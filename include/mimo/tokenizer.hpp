// mimo::Tokenizer: text <-> token ids for Hugging Face `tokenizer.json` byte-level BPE tokenizers
// (the Qwen / MiMo family), and mimo::TokenStreamDecoder, which turns a stream of generated ids
// into complete UTF-8 text and watches for stop strings. C++17, no third-party types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mimo/chat_template.hpp"
#include "mimo/export.hpp"

namespace mimo {

using TokenId = std::int32_t;

// An immutable tokenizer; copies share one loaded vocabulary and are safe to use from several
// threads at once.
class MIMO_API Tokenizer {
 public:
  // Loads `tokenizer.json`; `tokenizer_config_json` (may be empty) supplies bos/eos/pad, the chat
  // template and clean_up_tokenization_spaces. Throws Error(kIo / kInvalidFile / kUnsupported);
  // kInvalidFile names the file and the JSON path of the offending field (docs/tokenizer.md,
  // "Malformed and hostile files").
  static Tokenizer from_file(const std::string& tokenizer_json,
                             const std::string& tokenizer_config_json = "");
  // Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json.
  static Tokenizer from_model_dir(const std::string& dir);

  // Text (UTF-8; invalid sequences are replaced by U+FFFD first, as a JS TextDecoder does) to
  // ids. Added tokens such as <|im_start|> in the text become their ids. add_special_tokens runs
  // the post-processor (for Qwen it adds nothing).
  std::vector<TokenId> encode(std::string_view text, bool add_special_tokens = true) const;
  // Ids to text. Ids without a token are skipped (as HF does); byte sequences that do not form
  // valid UTF-8 become U+FFFD.
  std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens = false) const;

  // The vocabulary string of a token (byte-level form, e.g. "Ġworld"), or nullopt.
  std::optional<std::string> id_to_token(TokenId id) const;
  std::optional<TokenId> token_to_id(std::string_view token) const;
  // The raw bytes a token stands for when decoded (may be part of a UTF-8 sequence); empty for
  // ids without a token.
  std::string token_bytes(TokenId id) const;
  // One more than the largest id the tokenizer knows (vocabulary plus added tokens).
  std::size_t vocab_size() const;
  bool is_special(TokenId id) const;

  std::optional<TokenId> bos_id() const;
  std::optional<TokenId> eos_id() const;
  std::optional<TokenId> pad_id() const;

  // The chat template from tokenizer_config.json; throws Error(kUnsupported) when the config had
  // none or its template does not parse (the message names the line and column).
  const ChatTemplate& chat_template() const;
  bool has_chat_template() const;
  std::string apply_chat_template(const std::vector<ChatMessage>& messages,
                                  const ChatTemplateOptions& options = {}) const;

  Tokenizer(const Tokenizer&) = default;
  Tokenizer& operator=(const Tokenizer&) = default;
  Tokenizer(Tokenizer&&) noexcept = default;
  Tokenizer& operator=(Tokenizer&&) noexcept = default;
  ~Tokenizer();

  struct Impl;  // internal to libmimo

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// What one step of a TokenStreamDecoder produced.
struct StreamText {
  std::string text;         // complete UTF-8, safe to print
  bool stopped = false;     // a stop string was seen; `text` ends just before it
  std::string stop_string;  // which one, when stopped
};

// Incremental detokenizer for streaming: push ids one at a time. Text is released only when it
// is complete UTF-8 and can no longer be the start of a stop string; a stop string may span
// several tokens. Concatenating every push() and the final flush() gives decode(ids) when no
// stop string is hit.
class MIMO_API TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(Tokenizer tokenizer, std::vector<std::string> stop_strings = {},
                              bool skip_special_tokens = true);
  StreamText push(TokenId id);
  // Releases everything held back (an unfinished UTF-8 sequence becomes U+FFFD).
  StreamText flush();
  bool stopped() const { return stopped_; }
  void reset();

 private:
  StreamText release(bool at_end);

  Tokenizer tokenizer_;
  std::vector<std::string> stop_strings_;
  bool skip_special_tokens_;
  std::string pending_bytes_;  // raw bytes of an unfinished UTF-8 sequence
  std::string held_text_;      // valid text that may still begin a stop string
  bool stopped_ = false;
};

}  // namespace mimo
