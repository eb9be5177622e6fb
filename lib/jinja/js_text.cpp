// JavaScript-compatible text helpers (see js_text.hpp).
#include "jinja/js_text.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace mimo::jinja {

bool is_js_space(char32_t cp) {
  switch (cp) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

char32_t next_code_point(std::string_view s, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(pos);
  int extra = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
  if (lead < 0xC0 || pos + extra >= s.size()) {
    ++pos;
    return lead;
  }
  char32_t cp = lead & (0x3F >> extra);
  for (int i = 1; i <= extra; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) {
      ++pos;
      return lead;
    }
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  pos += extra + 1;
  return cp;
}

void append_code_point(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<std::string> split_code_points(std::string_view s) {
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t begin = pos;
    next_code_point(s, pos);
    out.emplace_back(s.substr(begin, pos - begin));
  }
  return out;
}

std::size_t utf16_length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t pos = 0; pos < s.size();) n += next_code_point(s, pos) >= 0x10000 ? 2 : 1;
  return n;
}

std::string trim_start(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t next = pos;
    if (!is_js_space(next_code_point(s, next))) break;
    pos = next;
  }
  return std::string(s.substr(pos));
}

std::string trim_end(std::string_view s) {
  std::size_t end = 0;  // end of the last non-space code point
  for (std::size_t pos = 0; pos < s.size();) {
    if (!is_js_space(next_code_point(s, pos))) end = pos;
  }
  return std::string(s.substr(0, end));
}

std::string trim(std::string_view s) {
  return trim_end(trim_start(s));
}

namespace {

// String#toUpperCase / toLowerCase: Unicode simple case mapping (utf8proc), plus the one special
// casing templates meet in practice, "ß" -> "SS".
std::string map_case(std::string_view s, bool upper) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t begin = pos;
    const char32_t cp = next_code_point(s, pos);
    if (cp < 0x80) {
      char c = static_cast<char>(cp);
      if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      out.push_back(c);
    } else if (upper && cp == 0xDF) {
      out += "SS";
    } else if (pos - begin == 1) {  // an invalid byte stays as it is
      out.push_back(s[begin]);
    } else {
      const auto mapped = upper ? utf8proc_toupper(static_cast<utf8proc_int32_t>(cp))
                                : utf8proc_tolower(static_cast<utf8proc_int32_t>(cp));
      append_code_point(static_cast<char32_t>(mapped), out);
    }
  }
  return out;
}

}  // namespace

std::string to_upper(std::string_view s) {
  return map_case(s, true);
}
std::string to_lower(std::string_view s) {
  return map_case(s, false);
}

namespace {
bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
}  // namespace

std::string title_case(std::string_view s) {
  // JS: value.replace(/\b\w/g, c => c.toUpperCase()).
  std::string out(s);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (is_word_char(out[i]) && (i == 0 || !is_word_char(out[i - 1])) && out[i] >= 'a' &&
        out[i] <= 'z') {
      out[i] = static_cast<char>(out[i] - 'a' + 'A');
    }
  }
  return out;
}

std::string js_number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";
  // Shortest round-trip digits and decimal exponent, then JS's layout rules (ECMA-262
  // Number::toString).
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const std::size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e + 1));
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // position of the decimal point
  std::string out;
  if (k <= n && n <= 21) {
    out = digits + std::string(n - k, '0');
  } else if (0 < n && n <= 21) {
    out = digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out = "0." + std::string(-n, '0') + digits;
  } else {
    const int shown = n - 1;
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (shown >= 0 ? "e+" : "e-") + std::to_string(shown >= 0 ? shown : -shown);
  }
  return sign + out;
}

std::string js_quote(std::string_view s, bool ensure_ascii) {
  std::string out = "\"";
  char hex[8];
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t begin = pos;
    const char32_t cp = next_code_point(s, pos);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (cp < 0x20) {
      std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(cp));
      out += hex;
    } else if (ensure_ascii && cp >= 0x7F) {
      if (cp >= 0x10000) {  // a surrogate pair, as JS strings hold it
        const char32_t v = cp - 0x10000;
        std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)));
        out += hex;
        std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
        out += hex;
      } else {
        std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(cp));
        out += hex;
      }
    } else {
      out.append(s.substr(begin, pos - begin));
    }
  }
  out += '"';
  return out;
}

}  // namespace mimo::jinja
