// The byte <-> code point table of GPT-2's bytes_to_unicode().
#include "tokenizer/byte_level.hpp"

#include "tokenizer/utf8.hpp"

namespace mimo::tokenizer {

namespace {

struct ByteTable {
  std::array<char32_t, 256> to_char{};
  ByteTable() {
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_char[b] = printable ? static_cast<char32_t>(b) : next_extra++;
    }
  }
};

const ByteTable& table() {
  static const ByteTable instance;
  return instance;
}

}  // namespace

char32_t byte_to_char(unsigned char b) {
  return table().to_char[b];
}

std::optional<unsigned char> char_to_byte(char32_t cp) {
  // Printable bytes map to themselves; the others are U+0100..U+0143 in byte order.
  if (cp < 256) {
    if (table().to_char[cp] == cp) return static_cast<unsigned char>(cp);
    return std::nullopt;
  }
  if (cp >= 256 + 68) return std::nullopt;
  const auto& to_char = table().to_char;
  for (int b = 0; b < 256; ++b) {
    if (to_char[b] == cp) return static_cast<unsigned char>(b);
  }
  return std::nullopt;
}

std::optional<std::string> byte_level_to_bytes(std::string_view token) {
  if (!is_valid_utf8(token)) return std::nullopt;
  std::string out;
  out.reserve(token.size());
  std::size_t pos = 0;
  while (pos < token.size()) {
    const auto byte = char_to_byte(next_codepoint(token, pos));
    if (!byte) return std::nullopt;
    out.push_back(static_cast<char>(*byte));
  }
  return out;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(byte_to_char(static_cast<unsigned char>(c)), out);
  return out;
}

}  // namespace mimo::tokenizer
