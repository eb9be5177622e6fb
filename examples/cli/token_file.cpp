// Token-id list parsing for mimo-cli: one pass over the text, every failure a mimo::Error that
// says where.
#include "cli/token_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "mimo/error.hpp"

namespace mimo::cli {

namespace {

constexpr std::size_t kExcerptBytes = 24;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_separator(char c) {
  return is_space(c) || c == ',';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Parses one list, reporting failures with `code` (the caller's: argument text or file content).
class TokenListParser {
 public:
  TokenListParser(const std::string& text, const std::string& label, ErrorCode code)
      : text_(text), label_(label), code_(code) {}

  std::vector<std::int32_t> parse() {
    std::vector<std::int32_t> ids;
    skip_spaces();
    const bool bracketed = at('[');
    if (bracketed) ++pos_;
    while (true) {
      while (pos_ < text_.size() && is_separator(text_[pos_])) ++pos_;
      if (pos_ == text_.size()) {
        if (bracketed) fail("the list opened with '[' has no closing ']'");
        return ids;
      }
      if (at(']')) {
        if (!bracketed) fail(fmt::format("unexpected ']' (found {})", excerpt()));
        ++pos_;
        skip_spaces();
        if (pos_ != text_.size()) fail(fmt::format("text after the closing ']': {}", excerpt()));
        return ids;
      }
      ids.push_back(parse_id());
    }
  }

 private:
  bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  void skip_spaces() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }

  std::int32_t parse_id() {
    constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
    const std::size_t start = pos_;
    std::int64_t value = 0;
    bool too_large = false;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
      value = value * 10 + (text_[pos_] - '0');
      if (value > kMax) {
        too_large = true;
        value = kMax;  // keeps the product in range; the id is refused below anyway
      }
      ++pos_;
    }
    const bool ends_here = pos_ == text_.size() || is_separator(text_[pos_]) || at(']');
    if (pos_ == start || !ends_here) {
      pos_ = start;
      fail(fmt::format("expected a token id (a non-negative decimal number), found {}", excerpt()));
    }
    if (too_large) {
      pos_ = start;
      fail(fmt::format("token id {} is beyond the largest id, {}", excerpt(), kMax));
    }
    return static_cast<std::int32_t>(value);
  }

  // The text from the current position to the next separator (at most kExcerptBytes), quoted;
  // bytes other than printable ASCII escaped as \xNN.
  std::string excerpt() const {
    std::string out = "'";
    std::size_t i = pos_;
    for (; i < text_.size() && i - pos_ < kExcerptBytes; ++i) {
      const char c = text_[i];
      if (i > pos_ && (is_separator(c) || c == ']' || c == '[')) break;
      const auto byte = static_cast<unsigned char>(c);
      if (byte >= 0x20 && byte < 0x7F && c != '\'' && c != '\\') {
        out += c;
      } else {
        out += fmt::format("\\x{:02x}", byte);
      }
    }
    if (i - pos_ == kExcerptBytes && i < text_.size() && !is_separator(text_[i])) out += "...";
    return out + "'";
  }

  [[noreturn]] void fail(const std::string& what) const {
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < pos_; ++i) {
      if (text_[i] == '\n') ++line, line_start = i + 1;
    }
    throw Error(code_, fmt::format("{}: line {}, column {}: {}", label_, line,
                                   pos_ - line_start + 1, what));
  }

  const std::string& text_;
  const std::string& label_;
  const ErrorCode code_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<std::int32_t> parse_token_list(const std::string& text, const std::string& label) {
  return TokenListParser(text, label, ErrorCode::kInvalidArgument).parse();
}

std::vector<std::int32_t> read_token_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(ErrorCode::kIo, fmt::format("{}: is a directory, not a token file", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kIo,
                fmt::format("{}: cannot open the token file ({})", path, std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, fmt::format("{}: reading the token file failed", path));
  std::vector<std::int32_t> ids =
      TokenListParser(buffer.str(), path, ErrorCode::kInvalidFile).parse();
  if (ids.empty()) throw Error(ErrorCode::kInvalidFile, fmt::format("{}: no token ids", path));
  return ids;
}

void check_token_ids(const std::vector<std::int32_t>& ids, std::int64_t vocab_size,
                     const std::string& label) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= vocab_size) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: token {} (id {}) is outside the vocabulary (ids 0..{})", label,
                              i, ids[i], vocab_size - 1));
    }
  }
}

}  // namespace mimo::cli
