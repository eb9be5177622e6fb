// TokenTrie construction from sorted byte strings, and TokenVocabulary's factories.
#include "constraint/token_trie.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "mimo/error.hpp"
#include "tokenizer/utf8.hpp"

namespace mimo::constraint {

TokenTrie TokenTrie::build(const std::vector<std::string>& bytes,
                           const std::vector<bool>& include) {
  std::vector<std::int32_t> order;
  for (std::size_t id = 0; id < bytes.size(); ++id) {
    if (include[id] && !bytes[id].empty()) order.push_back(static_cast<std::int32_t>(id));
  }
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return bytes[static_cast<std::size_t>(a)] < bytes[static_cast<std::size_t>(b)];
  });
  TokenTrie trie;
  trie.nodes.push_back(Node{});
  // path[d]: the node at depth d on the current root-to-leaf path (path[0] = the root).
  std::vector<std::int32_t> path{0};
  const std::string* previous = nullptr;
  for (std::int32_t id : order) {
    const std::string& word = bytes[static_cast<std::size_t>(id)];
    std::size_t common = 0;
    if (previous != nullptr) {
      const std::size_t limit = std::min(previous->size(), word.size());
      while (common < limit && (*previous)[common] == word[common]) ++common;
    }
    while (path.size() > common + 1) {  // close the nodes the new word leaves
      trie.nodes[static_cast<std::size_t>(path.back())].end =
          static_cast<std::int32_t>(trie.nodes.size());
      path.pop_back();
    }
    for (std::size_t d = common; d < word.size(); ++d) {
      Node n;
      n.byte = static_cast<std::uint8_t>(word[d]);
      n.depth = static_cast<std::uint16_t>(d + 1);
      n.tokens_begin = n.tokens_end = static_cast<std::int32_t>(trie.token_ids.size());
      trie.nodes.push_back(n);
      path.push_back(static_cast<std::int32_t>(trie.nodes.size() - 1));
    }
    Node& last = trie.nodes[static_cast<std::size_t>(path.back())];
    if (last.tokens_begin == last.tokens_end) {
      last.tokens_begin = static_cast<std::int32_t>(trie.token_ids.size());
    }
    trie.token_ids.push_back(id);
    last.tokens_end = static_cast<std::int32_t>(trie.token_ids.size());
    trie.max_depth = std::max(trie.max_depth, static_cast<int>(word.size()));
    previous = &word;
  }
  for (std::int32_t node : path) {
    trie.nodes[static_cast<std::size_t>(node)].end = static_cast<std::int32_t>(trie.nodes.size());
  }
  return trie;
}

bool string_safe(const std::string& bytes) {
  const auto plain = [](char c) {
    const auto b = static_cast<std::uint8_t>(c);
    return b >= 0x20 && b != '"' && b != '\\';
  };
  return !bytes.empty() && std::all_of(bytes.begin(), bytes.end(), plain) &&
         tokenizer::is_valid_utf8(bytes);
}

}  // namespace mimo::constraint

namespace mimo {

TokenVocabulary::TokenVocabulary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenVocabulary::~TokenVocabulary() = default;

std::size_t TokenVocabulary::size() const {
  return impl_->bytes.size();
}

std::shared_ptr<const TokenVocabulary> TokenVocabulary::from_bytes(
    const std::vector<std::string>& bytes) {
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("TokenVocabulary: {} tokens is too many", bytes.size()));
  }
  auto impl = std::make_unique<Impl>();
  impl->bytes = bytes;
  impl->string_safe.resize(bytes.size());
  std::vector<bool> all(bytes.size(), true), unsafe(bytes.size());
  for (std::size_t id = 0; id < bytes.size(); ++id) {
    impl->string_safe[id] = constraint::string_safe(bytes[id]) ? 1 : 0;
    unsafe[id] = impl->string_safe[id] == 0;
  }
  impl->all = constraint::TokenTrie::build(bytes, all);
  impl->unsafe = constraint::TokenTrie::build(bytes, unsafe);
  return std::make_shared<const TokenVocabulary>(std::move(impl));
}

std::shared_ptr<const TokenVocabulary> TokenVocabulary::from_tokenizer(const Tokenizer& tokenizer) {
  std::vector<std::string> bytes(tokenizer.vocab_size());
  for (std::size_t id = 0; id < bytes.size(); ++id) {
    const auto t = static_cast<TokenId>(id);
    if (!tokenizer.is_special(t)) bytes[id] = tokenizer.token_bytes(t);
  }
  return from_bytes(bytes);
}

}  // namespace mimo
