// Leftmost-longest search for added tokens. The automaton holds every token reversed; scanning
// the text from its end, the state after reading byte `pos` names the longest token that
// starts at `pos` (and, through `shorter_`, every shorter one). A left-to-right pass then takes
// the first position with a match, as before: linear in the text, independent of token count.
#include "tokenizer/added_tokens.hpp"

#include <algorithm>
#include <cctype>
#include <deque>

#include "tokenizer/utf8.hpp"

namespace mimo::tokenizer {

namespace {

// HF strips with Rust's char::is_whitespace (Unicode White_Space).
bool is_whitespace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// Start of the code point that ends just before `pos`.
std::size_t previous_boundary(std::string_view text, std::size_t pos) {
  do {
    --pos;
  } while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80);
  return pos;
}

bool is_word_char_at(std::string_view text, std::size_t pos) {
  std::size_t p = pos;
  const char32_t cp = next_codepoint(text, p);
  if (cp < 0x80) return std::isalnum(static_cast<int>(cp)) || cp == '_';
  return !is_whitespace(cp);  // conservative: non-ASCII letters and marks count as word chars
}

struct BuildEdge {
  unsigned char byte;
  std::uint32_t target;
};

std::uint32_t find_edge(const std::vector<BuildEdge>& edges, unsigned char byte) {
  for (const BuildEdge& e : edges) {
    if (e.byte == byte) return e.target;
  }
  return 0;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  tokens_.erase(std::remove_if(tokens_.begin(), tokens_.end(),
                               [](const AddedToken& t) { return t.content.empty(); }),
                tokens_.end());
  // Trie of the reversed contents.
  std::vector<std::vector<BuildEdge>> trie(1);
  std::vector<std::int32_t> terminal(1, kNone);
  std::vector<std::uint32_t> state_of(tokens_.size(), 0);
  for (std::size_t t = 0; t < tokens_.size(); ++t) {
    std::uint32_t state = 0;
    const std::string& content = tokens_[t].content;
    for (auto it = content.rbegin(); it != content.rend(); ++it) {
      const auto byte = static_cast<unsigned char>(*it);
      std::uint32_t next = find_edge(trie[state], byte);
      if (next == 0) {
        next = static_cast<std::uint32_t>(trie.size());
        trie[state].push_back({byte, next});
        trie.emplace_back();
        terminal.push_back(kNone);
      }
      state = next;
    }
    if (terminal[state] == kNone) terminal[state] = static_cast<std::int32_t>(t);
    state_of[t] = state;
  }
  // Failure links and outputs, breadth first so a state's fail target is finished before it.
  const std::size_t states = trie.size();
  fail_.assign(states, 0);
  longest_.assign(states, kNone);
  std::deque<std::uint32_t> queue{0};
  while (!queue.empty()) {
    const std::uint32_t u = queue.front();
    queue.pop_front();
    longest_[u] = terminal[u] != kNone ? terminal[u] : (u == 0 ? kNone : longest_[fail_[u]]);
    for (const BuildEdge& e : trie[u]) {
      std::uint32_t f = fail_[u];
      while (u != 0 && f != 0 && find_edge(trie[f], e.byte) == 0) f = fail_[f];
      fail_[e.target] = u == 0 ? 0 : find_edge(trie[f], e.byte);
      queue.push_back(e.target);
    }
  }
  shorter_.assign(tokens_.size(), kNone);
  shorter_plain_.assign(tokens_.size(), kNone);
  // By increasing length, so the next shorter token's shorter_plain_ is known when needed.
  std::vector<std::size_t> by_length(tokens_.size());
  for (std::size_t t = 0; t < tokens_.size(); ++t) by_length[t] = t;
  std::sort(by_length.begin(), by_length.end(), [&](std::size_t a, std::size_t b) {
    return tokens_[a].content.size() < tokens_[b].content.size();
  });
  for (const std::size_t t : by_length) {
    const std::int32_t next = longest_[fail_[state_of[t]]];
    shorter_[t] = next;
    shorter_plain_[t] = next == kNone || !tokens_[next].single_word ? next : shorter_plain_[next];
  }
  // Compact edges, sorted by byte, plus a dense root table.
  edge_begin_.assign(states + 1, 0);
  root_next_.assign(256, 0);
  for (std::size_t s = 0; s < states; ++s) {
    std::sort(trie[s].begin(), trie[s].end(),
              [](const BuildEdge& a, const BuildEdge& b) { return a.byte < b.byte; });
    edge_begin_[s + 1] = edge_begin_[s] + static_cast<std::uint32_t>(trie[s].size());
    for (const BuildEdge& e : trie[s]) {
      edge_bytes_.push_back(e.byte);
      edge_targets_.push_back(e.target);
    }
  }
  for (const BuildEdge& e : trie[0]) root_next_[e.byte] = e.target;
}

std::uint32_t AddedTokenMatcher::child(std::uint32_t state, unsigned char byte) const {
  if (state == 0) return root_next_[byte];
  const auto begin = edge_bytes_.begin() + edge_begin_[state];
  const auto end = edge_bytes_.begin() + edge_begin_[state + 1];
  const auto it = std::lower_bound(begin, end, byte);
  return it != end && *it == byte ? edge_targets_[it - edge_bytes_.begin()] : 0;
}

std::uint32_t AddedTokenMatcher::step(std::uint32_t state, unsigned char byte) const {
  for (;;) {
    const std::uint32_t next = child(state, byte);
    if (next != 0 || state == 0) return next;
    state = fail_[state];
  }
}

std::int32_t AddedTokenMatcher::token_at(std::string_view text, std::size_t pos,
                                         std::int32_t longest) const {
  const bool word_before = pos > 0 && is_word_char_at(text, previous_boundary(text, pos));
  for (std::int32_t t = longest; t != kNone;) {
    const AddedToken& token = tokens_[t];
    if (!token.single_word) return t;
    if (word_before) {
      t = shorter_plain_[t];
      continue;
    }
    const std::size_t end = pos + token.content.size();
    if (end == text.size() || !is_word_char_at(text, end)) return t;
    t = shorter_[t];
  }
  return kNone;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  // longest_here[pos]: the longest token that starts at pos (single_word not yet checked).
  std::vector<std::int32_t> longest_here(text.size(), kNone);
  std::uint32_t state = 0;
  for (std::size_t pos = text.size(); pos-- > 0;) {
    state = step(state, static_cast<unsigned char>(text[pos]));
    longest_here[pos] = longest_[state];
  }
  std::size_t emitted = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::int32_t t =
        longest_here[pos] == kNone ? kNone : token_at(text, pos, longest_here[pos]);
    if (t == kNone) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[t];
    std::size_t begin = pos, end = pos + token.content.size();
    if (token.lstrip) {
      while (begin > emitted) {
        const std::size_t prev = previous_boundary(text, begin);
        std::size_t p = prev;
        if (!is_whitespace(next_codepoint(text, p))) break;
        begin = prev;
      }
    }
    if (token.rstrip) {
      while (end < text.size()) {
        std::size_t p = end;
        if (!is_whitespace(next_codepoint(text, p))) break;
        end = p;
      }
    }
    if (begin > emitted) out.push_back(Segment{text.substr(emitted, begin - emitted), -1});
    out.push_back(Segment{text.substr(begin, end - begin), token.id});
    emitted = end;
    pos = end;
  }
  if (emitted < text.size()) out.push_back(Segment{text.substr(emitted), -1});
}

}  // namespace mimo::tokenizer
