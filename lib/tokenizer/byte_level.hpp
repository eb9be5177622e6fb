// GPT-2's byte-level alphabet: each of the 256 byte values is shown as a printable code point
// (bytes that are printable Latin-1 stay themselves, the rest move to U+0100 and up), so that
// vocabulary strings like "Ġworld" stand for raw bytes (" world").
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace mimo::tokenizer {

// Code point that shows byte `b`.
char32_t byte_to_char(unsigned char b);
// Byte shown by code point `cp`, or nullopt when `cp` is not in the alphabet.
std::optional<unsigned char> char_to_byte(char32_t cp);

// Raw bytes behind a vocabulary string; nullopt when a character is outside the alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view token);
// Vocabulary form of raw bytes.
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace mimo::tokenizer
