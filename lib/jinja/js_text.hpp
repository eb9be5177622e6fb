// Text helpers with JavaScript semantics, so rendering matches @huggingface/jinja byte for byte:
// JS whitespace for trim / split, Number#toString for doubles, JSON.stringify for strings.
// Strings are UTF-8 here. Lengths count UTF-16 units as JS does; slices count code points as the
// reference does (Array.from); indices count code points (JS: UTF-16 units, which differs only
// for characters outside the BMP).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mimo::jinja {

// JS \s: ASCII whitespace, NBSP, the Unicode space separators, line / paragraph separators, BOM.
bool is_js_space(char32_t cp);

// Decodes one code point at s[pos] (invalid bytes decode as themselves) and advances pos.
char32_t next_code_point(std::string_view s, std::size_t& pos);
void append_code_point(char32_t cp, std::string& out);
std::vector<std::string> split_code_points(std::string_view s);
// String#length: characters outside the BMP count twice.
std::size_t utf16_length(std::string_view s);

std::string trim_start(std::string_view s);
std::string trim_end(std::string_view s);
std::string trim(std::string_view s);

// Case mapping as JS does it: Unicode simple mappings (utf8proc) and "ß" -> "SS".
std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);
// The reference's title(): /\b\w/ upper-cased, so only ASCII letters after a non-word character.
std::string title_case(std::string_view s);

// Number#toString: shortest round-trip digits, exponent form below 1e-6 and from 1e21.
std::string js_number(double value);
// JSON.stringify of a string; ensure_ascii escapes everything from U+007F as \uXXXX (UTF-16).
std::string js_quote(std::string_view s, bool ensure_ascii);

}  // namespace mimo::jinja
