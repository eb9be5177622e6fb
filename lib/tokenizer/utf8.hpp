// UTF-8 helpers for the tokenizer: validation, code point iteration, and the WHATWG decoder's
// replacement of invalid sequences by U+FFFD (what JS TextDecoder and Rust from_utf8_lossy do).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mimo::tokenizer {

inline constexpr char32_t kReplacementChar = 0xFFFD;

bool is_valid_utf8(std::string_view bytes);

// Appends the UTF-8 encoding of `cp` (a scalar value) to `out`.
void append_utf8(char32_t cp, std::string& out);

// Decodes the code point starting at bytes[pos] of VALID UTF-8 and advances pos.
char32_t next_codepoint(std::string_view bytes, std::size_t& pos);

// Incremental WHATWG UTF-8 decoder that re-encodes as valid UTF-8: every maximal invalid
// subpart becomes one U+FFFD. An unfinished sequence at the end of the input is held until
// more bytes come or finish() is called.
class Utf8Sanitizer {
 public:
  void feed(std::string_view bytes, std::string& out);
  void finish(std::string& out);
  bool has_pending() const { return needed_ != 0; }

 private:
  void reset_sequence();
  char32_t codepoint_ = 0;
  int needed_ = 0;
  int seen_ = 0;
  unsigned char lower_ = 0x80;
  unsigned char upper_ = 0xBF;
};

// One-shot form: valid input is returned unchanged.
std::string sanitize_utf8(std::string_view bytes);

}  // namespace mimo::tokenizer
