// Added tokens (<|im_start|>, <think>, ...): found in the text before pre-tokenization and
// never split. Matching is leftmost-longest, with the lstrip / rstrip / single_word flags of
// HF's AddedToken, in time linear in the text whatever the number of added tokens: an
// Aho-Corasick automaton over the reversed tokens, run backwards over the text, gives the
// longest token starting at every position in one pass.
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
  // Empty contents never match; of two tokens with the same content, the first is kept.
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);
  bool empty() const { return tokens_.empty(); }
  // Cuts `text` (valid UTF-8) into text segments and added-token segments.
  void split(std::string_view text, std::vector<Segment>& out) const;

 private:
  static constexpr std::int32_t kNone = -1;

  std::uint32_t step(std::uint32_t state, unsigned char byte) const;
  std::uint32_t child(std::uint32_t state, unsigned char byte) const;  // 0 (root) when none
  // The longest token starting at `pos` that may match there (single_word checked), or kNone.
  std::int32_t token_at(std::string_view text, std::size_t pos, std::int32_t longest) const;

  std::vector<AddedToken> tokens_;
  // The automaton over reversed contents; state 0 is the root. Edges of state s are
  // edge_bytes_/edge_targets_[edge_begin_[s], edge_begin_[s + 1]), sorted by byte.
  std::vector<std::uint32_t> edge_begin_;
  std::vector<unsigned char> edge_bytes_;
  std::vector<std::uint32_t> edge_targets_;
  std::vector<std::uint32_t> root_next_;  // 256 root transitions (0 = stay at the root)
  std::vector<std::uint32_t> fail_;
  std::vector<std::int32_t> longest_;  // by state: longest token that is a suffix, or kNone
  // By token: the next shorter token matching at the same place, and the next one without
  // single_word (a single_word token cannot match after a word character).
  std::vector<std::int32_t> shorter_;
  std::vector<std::int32_t> shorter_plain_;
};

}  // namespace mimo::tokenizer
