// Template lexer (see lexer.hpp). Throws Failure(kSyntax) at the offending offset.
#include "jinja/lexer.hpp"

#include <cstring>

#include "jinja/failure.hpp"
#include "jinja/js_text.hpp"

namespace mimo::jinja {

namespace {

// The preprocessed text and, for each of its bytes, the offset it came from.
struct Mapped {
  std::string text;
  std::vector<std::size_t> origin;
  void push(char c, std::size_t from) {
    text.push_back(c);
    origin.push_back(from);
  }
};

bool ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1" (line starts after \n or \r).
Mapped strip_block_indent(const Mapped& in) {
  Mapped out;
  const std::string& s = in.text;
  for (std::size_t i = 0; i < s.size();) {
    if (i == 0 || s[i - 1] == '\n' || s[i - 1] == '\r') {
      std::size_t j = i;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
      if (j + 1 < s.size() && s[j] == '{' && std::strchr("#%-", s[j + 1]) && s[j + 1] != 0) i = j;
    }
    out.push(s[i], in.origin[i]);
    ++i;
  }
  return out;
}

// trim_blocks: /([#%-]})\n/g -> "$1".
Mapped trim_block_newline(const Mapped& in) {
  Mapped out;
  const std::string& s = in.text;
  for (std::size_t i = 0; i < s.size();) {
    if (i + 2 < s.size() && std::strchr("#%-", s[i]) && s[i] != 0 && s[i + 1] == '}' &&
        s[i + 2] == '\n') {
      out.push(s[i], in.origin[i]);
      out.push(s[i + 1], in.origin[i + 1]);
      i += 3;
      continue;
    }
    out.push(s[i], in.origin[i]);
    ++i;
  }
  return out;
}

// transformers' {% generation %} / {% endgeneration %} markers are dropped, honouring - flags:
// /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs.
Mapped drop_generation_tags(const Mapped& in) {
  Mapped out;
  const std::string& s = in.text;
  std::size_t kept_from = 0;  // whitespace before a tag may only come from after the last match
  for (std::size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "{%") == 0) {
      std::size_t j = i + 2;
      const bool lstrip = j < s.size() && s[j] == '-';
      if (lstrip) ++j;
      while (j < s.size() && ascii_space(s[j])) ++j;
      if (s.compare(j, 3, "end") == 0 && s.compare(j + 3, 10, "generation") == 0) j += 3;
      if (s.compare(j, 10, "generation") == 0) {
        j += 10;
        while (j < s.size() && ascii_space(s[j])) ++j;
        const bool rstrip = j < s.size() && s[j] == '-';
        if (rstrip) ++j;
        if (s.compare(j, 2, "%}") == 0) {
          j += 2;
          if (lstrip) {
            while (out.text.size() > kept_from && ascii_space(out.text.back())) {
              out.text.pop_back();
              out.origin.pop_back();
            }
          }
          while (j < s.size() && ascii_space(s[j])) {
            if (!rstrip) out.push(s[j], in.origin[j]);
            ++j;
          }
          kept_from = out.text.size();
          i = j;
          continue;
        }
      }
    }
    out.push(s[i], in.origin[i]);
    ++i;
  }
  return out;
}

Mapped preprocess(const std::string& source) {
  Mapped m;
  for (std::size_t i = 0; i < source.size(); ++i) m.push(source[i], i);
  if (!m.text.empty() && m.text.back() == '\n') {
    m.text.pop_back();
    m.origin.pop_back();
  }
  return drop_generation_tags(trim_block_newline(strip_block_indent(m)));
}

bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

struct Rule {
  const char* text;
  TokenType type;
};
// Tried in order, as @huggingface/jinja's ORDERED_MAPPING_TABLE.
constexpr Rule kRules[] = {
    {"{%", TokenType::kOpenStatement},  {"%}", TokenType::kCloseStatement},
    {"{{", TokenType::kOpenExpression}, {"}}", TokenType::kCloseExpression},
    {"(", TokenType::kOpenParen},       {")", TokenType::kCloseParen},
    {"{", TokenType::kOpenBrace},       {"}", TokenType::kCloseBrace},
    {"[", TokenType::kOpenBracket},     {"]", TokenType::kCloseBracket},
    {",", TokenType::kComma},           {".", TokenType::kDot},
    {":", TokenType::kColon},           {"|", TokenType::kPipe},
    {"<=", TokenType::kComparison},     {">=", TokenType::kComparison},
    {"==", TokenType::kComparison},     {"!=", TokenType::kComparison},
    {"<", TokenType::kComparison},      {">", TokenType::kComparison},
    {"+", TokenType::kAdditive},        {"-", TokenType::kAdditive},
    {"~", TokenType::kAdditive},        {"**", TokenType::kPower},
    {"*", TokenType::kMultiplicative},  {"//", TokenType::kMultiplicative},
    {"/", TokenType::kMultiplicative},  {"%", TokenType::kMultiplicative},
    {"=", TokenType::kEquals},
};

class Lexer {
 public:
  explicit Lexer(const Mapped& src) : m_(src), s_(src.text) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) step();
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(const std::string& message) const {
    const std::size_t at =
        pos_ < m_.origin.size() ? m_.origin[pos_] : (m_.origin.empty() ? 0 : m_.origin.back());
    throw Failure(FailureKind::kSyntax, message, at);
  }

  std::size_t origin(std::size_t at) const {
    return at < m_.origin.size() ? m_.origin[at] : (m_.origin.empty() ? 0 : m_.origin.back());
  }

  void push(TokenType type, std::string value, std::size_t start) {
    tokens_.push_back({type, std::move(value), origin(start)});
  }

  bool last_is(std::initializer_list<TokenType> types) const {
    if (tokens_.empty()) return false;
    for (TokenType t : types) {
      if (tokens_.back().type == t) return true;
    }
    return false;
  }

  char at(std::size_t i) const { return i < s_.size() ? s_[i] : '\0'; }

  // consumeWhile with escapes; reaching the end of input inside a tag is an error.
  // Running into the end of input is an error for string literals (and after any character, as
  // in the reference lexer).
  template <typename Pred>
  std::string consume_while(Pred pred, bool string_literal = false) {
    std::string out;
    while (pos_ < s_.size() ? pred(s_[pos_]) : string_literal) {
      if (pos_ >= s_.size()) error("unexpected end of input");
      if (s_[pos_] == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) error("unexpected end of input");
        const char escaped = s_[pos_++];
        if (escaped == 'x' || escaped == 'u') {
          const std::size_t length = escaped == 'x' ? 2 : 4;
          const std::string hex = s_.substr(pos_, length);
          if (hex.size() != length ||
              hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
            error("invalid hexadecimal escape sequence \\" + std::string(1, escaped) + hex);
          }
          append_code_point(static_cast<char32_t>(std::stoul(hex, nullptr, 16)), out);
          pos_ += length;
          continue;
        }
        const char* from = "ntrbfv'\"\\";
        const char* to = "\n\t\r\b\f\v'\"\\";
        const char* found = std::strchr(from, escaped);
        if (!found || escaped == 0) error(std::string("unexpected escaped character: ") + escaped);
        out.push_back(to[found - from]);
        continue;
      }
      out.push_back(s_[pos_++]);
      if (pos_ >= s_.size()) error("unexpected end of input");
    }
    return out;
  }

  void strip_trailing_whitespace() {
    if (!tokens_.empty() && tokens_.back().type == TokenType::kText) {
      tokens_.back().value = trim_end(tokens_.back().value);
      if (tokens_.back().value.empty()) tokens_.pop_back();
    }
  }

  void skip_leading_whitespace() {
    while (pos_ < s_.size()) {
      std::size_t next = pos_;
      if (!is_js_space(next_code_point(s_, next))) break;
      pos_ = next;
    }
  }

  bool starts(const char* text) const { return s_.compare(pos_, std::strlen(text), text) == 0; }

  void step() {
    if (tokens_.empty() ||
        last_is({TokenType::kCloseStatement, TokenType::kCloseExpression, TokenType::kComment})) {
      const std::size_t start = pos_;
      while (pos_ < s_.size() && !(s_[pos_] == '{' && (at(pos_ + 1) == '%' || at(pos_ + 1) == '{' ||
                                                       at(pos_ + 1) == '#'))) {
        ++pos_;
      }
      if (pos_ > start) {
        push(TokenType::kText, s_.substr(start, pos_ - start), start);
        return;
      }
    }
    if (starts("{#")) {
      const std::size_t start = pos_;
      pos_ += 2;
      const bool strip_before = at(pos_) == '-';
      if (strip_before) ++pos_;
      std::string comment;
      while (!(at(pos_) == '#' && at(pos_ + 1) == '}')) {
        if (pos_ + 2 >= s_.size()) error("missing end of comment tag");
        comment.push_back(s_[pos_++]);
      }
      const bool strip_after = !comment.empty() && comment.back() == '-';
      if (strip_after) comment.pop_back();
      if (strip_before) strip_trailing_whitespace();
      push(TokenType::kComment, comment, start);
      pos_ += 2;
      if (strip_after) skip_leading_whitespace();
      return;
    }
    if (starts("{%-")) {
      strip_trailing_whitespace();
      push(TokenType::kOpenStatement, "{%", pos_);
      pos_ += 3;
      return;
    }
    if (starts("{{-")) {
      strip_trailing_whitespace();
      push(TokenType::kOpenExpression, "{{", pos_);
      brace_depth_ = 0;
      pos_ += 3;
      return;
    }
    while (pos_ < s_.size() && ascii_space(s_[pos_])) ++pos_;
    if (pos_ >= s_.size()) error("unexpected end of input");
    if (starts("-%}")) {
      push(TokenType::kCloseStatement, "%}", pos_);
      pos_ += 3;
      skip_leading_whitespace();
      return;
    }
    if (starts("-}}")) {
      push(TokenType::kCloseExpression, "}}", pos_);
      pos_ += 3;
      skip_leading_whitespace();
      return;
    }
    const char c = s_[pos_];
    if ((c == '-' || c == '+') &&
        !last_is({TokenType::kIdentifier, TokenType::kNumber, TokenType::kString,
                  TokenType::kCloseParen, TokenType::kCloseBracket})) {
      if (tokens_.empty() || last_is({TokenType::kText})) {
        error(std::string("unexpected character: ") + c);
      }
      const std::size_t start = pos_++;
      std::string number = consume_while(is_digit);
      if (!number.empty() && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
        ++pos_;
        number += "." + consume_while(is_digit);
      }
      push(number.empty() ? TokenType::kUnary : TokenType::kNumber, std::string(1, c) + number,
           start);
      return;
    }
    for (const Rule& rule : kRules) {
      if (rule.type == TokenType::kCloseExpression && brace_depth_ > 0) continue;
      if (!starts(rule.text)) continue;
      push(rule.type, rule.text, pos_);
      if (rule.type == TokenType::kOpenExpression) brace_depth_ = 0;
      if (rule.type == TokenType::kOpenBrace) ++brace_depth_;
      if (rule.type == TokenType::kCloseBrace) --brace_depth_;
      pos_ += std::strlen(rule.text);
      return;
    }
    if (c == '\'' || c == '"') {
      const std::size_t start = pos_++;
      std::string text = consume_while([c](char x) { return x != c; }, true);
      push(TokenType::kString, std::move(text), start);
      ++pos_;
      return;
    }
    if (is_digit(c)) {
      const std::size_t start = pos_;
      std::string number = consume_while(is_digit);
      if (!last_is({TokenType::kDot}) && at(pos_) == '.' && is_digit(at(pos_ + 1))) {
        ++pos_;
        number += "." + consume_while(is_digit);
      }
      push(TokenType::kNumber, std::move(number), start);
      return;
    }
    if (is_word(c)) {
      const std::size_t start = pos_;
      push(TokenType::kIdentifier, consume_while(is_word), start);
      return;
    }
    error(std::string("unexpected character: ") + c);
  }

  const Mapped& m_;
  const std::string& s_;
  std::size_t pos_ = 0;
  int brace_depth_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  const Mapped mapped = preprocess(source);
  return Lexer(mapped).run();
}

}  // namespace mimo::jinja
