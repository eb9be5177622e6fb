// The loaded state behind mimo::Tokenizer: vocabulary, added tokens, pipeline stages, config.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mimo/chat_template.hpp"
#include "mimo/tokenizer.hpp"
#include "tokenizer/added_tokens.hpp"
#include "tokenizer/bpe_model.hpp"
#include "tokenizer/regex_splitter.hpp"

namespace mimo {

struct Tokenizer::Impl {
  std::string origin;  // tokenizer.json path, for messages

  // Vocabulary: token string (byte-level form, or added-token content) <-> id.
  std::unordered_map<std::string, TokenId> token_ids;
  std::vector<std::string> tokens;                     // by id; empty where `present` is 0
  std::vector<std::string> token_raw;                  // by id: bytes the token decodes to
  std::vector<unsigned char> present;                  // by id
  std::vector<unsigned char> special;                  // by id
  std::vector<unsigned char> added;                    // by id
  std::unordered_map<std::string, TokenId> raw_vocab;  // raw bytes -> id (ignore_merges only)

  // Pipeline.
  bool normalize_nfc = false;
  std::vector<std::unique_ptr<tokenizer::RegexSplitter>> splitters;  // applied in order
  bool add_prefix_space = false;
  std::unique_ptr<tokenizer::BpeModel> bpe;
  std::unique_ptr<tokenizer::AddedTokenMatcher> raw_added;         // matched before normalizing
  std::unique_ptr<tokenizer::AddedTokenMatcher> normalized_added;  // matched after
  std::vector<TokenId> prefix_ids, suffix_ids;  // post-processor, when add_special_tokens

  // tokenizer_config.json.
  bool clean_up_tokenization_spaces = false;
  std::optional<TokenId> bos, eos, pad;
  std::optional<ChatTemplate> chat_template;
  std::string chat_template_error;  // why there is none
};

namespace tokenizer {

// Parses tokenizer.json (and tokenizer_config.json when the path is not empty).
std::shared_ptr<Tokenizer::Impl> load_tokenizer(const std::string& tokenizer_json,
                                                const std::string& tokenizer_config_json);

}  // namespace tokenizer
}  // namespace mimo
