// Leftmost-longest search for added tokens, bucketed by first byte.
#include "tokenizer/added_tokens.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

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

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens)
    : tokens_(std::move(tokens)), by_first_byte_(256) {
  tokens_.erase(std::remove_if(tokens_.begin(), tokens_.end(),
                               [](const AddedToken& t) { return t.content.empty(); }),
                tokens_.end());
  std::stable_sort(tokens_.begin(), tokens_.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.content.size() > b.content.size();
  });
  for (const AddedToken& token : tokens_) {
    by_first_byte_[static_cast<unsigned char>(token.content[0])].push_back(&token);
  }
}

bool AddedTokenMatcher::find_next(std::string_view text, std::size_t from, Match& match) const {
  for (std::size_t pos = from; pos < text.size(); ++pos) {
    const auto& bucket = by_first_byte_[static_cast<unsigned char>(text[pos])];
    for (const AddedToken* token : bucket) {
      const std::size_t len = token->content.size();
      if (len > text.size() - pos || std::memcmp(text.data() + pos, token->content.data(), len)) {
        continue;
      }
      if (token->single_word) {
        const bool word_before = pos > 0 && is_word_char_at(text, previous_boundary(text, pos));
        const bool word_after = pos + len < text.size() && is_word_char_at(text, pos + len);
        if (word_before || word_after) continue;
      }
      match = Match{pos, pos + len, token};
      return true;
    }
  }
  return false;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  std::size_t emitted = 0;
  std::size_t search = 0;
  Match match{};
  while (search < text.size() && find_next(text, search, match)) {
    std::size_t begin = match.begin, end = match.end;
    if (match.token->lstrip) {
      while (begin > emitted) {
        const std::size_t prev = previous_boundary(text, begin);
        std::size_t p = prev;
        if (!is_whitespace(next_codepoint(text, p))) break;
        begin = prev;
      }
    }
    if (match.token->rstrip) {
      while (end < text.size()) {
        std::size_t p = end;
        if (!is_whitespace(next_codepoint(text, p))) break;
        end = p;
      }
    }
    if (begin > emitted) out.push_back(Segment{text.substr(emitted, begin - emitted), -1});
    out.push_back(Segment{text.substr(begin, end - begin), match.token->id});
    emitted = end;
    search = end;
  }
  if (emitted < text.size()) out.push_back(Segment{text.substr(emitted), -1});
}

}  // namespace mimo::tokenizer
