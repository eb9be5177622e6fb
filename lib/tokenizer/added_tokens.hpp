// Added tokens (<|im_start|>, <think>, ...): found in the text before pre-tokenization and
// never split. Matching is leftmost-longest, with the lstrip / rstrip / single_word flags of
// HF's AddedToken.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mimo::tokenizer {

struct AddedToken {
  std::int32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = false;   // matched in normalized text rather than the raw input
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool single_word = false;  // matches only between word boundaries
};

// A piece of the input: either text still to be tokenized, or one added token.
struct Segment {
  std::string_view text;
  std::int32_t token_id = -1;  // >= 0 for an added token
};

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);
  bool empty() const { return tokens_.empty(); }
  // Cuts `text` (valid UTF-8) into text segments and added-token segments.
  void split(std::string_view text, std::vector<Segment>& out) const;

 private:
  struct Match {
    std::size_t begin, end;
    const AddedToken* token;
  };
  bool find_next(std::string_view text, std::size_t from, Match& match) const;

  std::vector<AddedToken> tokens_;                             // longest first
  std::vector<std::vector<const AddedToken*>> by_first_byte_;  // 256 buckets, longest first
};

}  // namespace mimo::tokenizer
