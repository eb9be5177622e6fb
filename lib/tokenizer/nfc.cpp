// NFC through utf8proc; most text (ASCII, CJK, emoji) takes the property-check fast path.
#include "tokenizer/nfc.hpp"

#include <fmt/format.h>
#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "mimo/error.hpp"
#include "tokenizer/utf8.hpp"

namespace mimo::tokenizer {

namespace {

bool is_stable_codepoint(char32_t cp) {
  if (cp < 0x300) return true;  // nothing below U+0300 decomposes into or composes with it
  if (cp >= 0x1100 && cp <= 0x11FF) return false;  // Hangul jamo compose algorithmically
  const utf8proc_property_t* prop = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  if (prop->combining_class != 0) return false;
  if (prop->decomp_seqindex != UINT16_MAX) return false;
  // comb_index marks code points that take part in a composition; the upper half of its
  // range is for those that can be the second element (they may merge with what precedes).
  if (prop->comb_index != UINT16_MAX && prop->comb_index >= 0x8000) return false;
  return true;
}

}  // namespace

bool is_trivially_nfc(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    if (!is_stable_codepoint(next_codepoint(text, pos))) return false;
  }
  return true;
}

std::string nfc(std::string_view text) {
  if (is_trivially_nfc(text)) return std::string(text);
  utf8proc_uint8_t* result = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &result,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (length < 0) {
    throw Error(ErrorCode::kInternal,
                fmt::format("NFC normalization failed: {}", utf8proc_errmsg(length)));
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(result, &std::free);
  return std::string(reinterpret_cast<const char*>(result), static_cast<std::size_t>(length));
}

}  // namespace mimo::tokenizer
