// Unicode NFC normalization (utf8proc) with a fast path for text that is already NFC.
#pragma once

#include <string>
#include <string_view>

namespace mimo::tokenizer {

// True when every code point of valid UTF-8 `text` is one that NFC leaves alone in any context
// (no decomposition, combining class 0, never the second half of a composition).
bool is_trivially_nfc(std::string_view text);

// NFC of valid UTF-8 `text`.
std::string nfc(std::string_view text);

}  // namespace mimo::tokenizer
