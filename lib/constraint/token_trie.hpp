// A vocabulary's token byte strings as a byte trie laid out in preorder, so a depth-first walk
// is a linear scan that skips a refused subtree in one jump (nodes[i].end), and the tokens that
// fit inside any JSON string (string_safe) for the mask's shortcut in plain string state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mimo/json_constraint.hpp"

namespace mimo::constraint {

struct TokenTrie {
  struct Node {
    std::int32_t end = 0;           // one past the last node of this subtree
    std::int32_t tokens_begin = 0;  // token_ids[tokens_begin, tokens_end): tokens ending here
    std::int32_t tokens_end = 0;
    std::uint16_t depth = 0;  // bytes from the root (the root: 0)
    std::uint8_t byte = 0;
  };
  std::vector<Node> nodes;  // nodes[0]: the root
  std::vector<std::int32_t> token_ids;
  int max_depth = 0;

  // The trie of the given ids' byte strings (empty strings are left out).
  static TokenTrie build(const std::vector<std::string>& bytes, const std::vector<bool>& include);
};

// True when `bytes` is non-empty plain JSON string content: no quote, backslash or control
// byte, and whole, valid UTF-8 characters.
bool string_safe(const std::string& bytes);

}  // namespace mimo::constraint

namespace mimo {

struct TokenVocabulary::Impl {
  std::vector<std::string> bytes;         // by id
  constraint::TokenTrie all;              // every token with bytes
  constraint::TokenTrie unsafe;           // those not string-safe
  std::vector<std::uint8_t> string_safe;  // by id: 1 for string-safe tokens
};

}  // namespace mimo
