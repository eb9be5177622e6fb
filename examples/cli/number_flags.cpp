// canonical_number: std::from_chars for integers (range checked), strtod + finiteness and
// float range for floating-point options.
#include "cli/number_flags.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

namespace mimo::cli {

namespace {

template <typename T>
std::string integer(std::string& text) {
  T parsed{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, parsed);
  if (error == std::errc::result_out_of_range) {
    return fmt::format("{} is out of range ({} to {})", text, std::numeric_limits<T>::min(),
                       std::numeric_limits<T>::max());
  }
  if (error != std::errc() || stop != end) {
    return fmt::format("{} is not a{} integer", text,
                       std::is_unsigned_v<T> ? " non-negative" : "n");
  }
  text = std::to_string(parsed);
  return "";
}

template <typename T>
std::string floating(std::string& text) {
  errno = 0;
  char* stop = nullptr;
  const double parsed = std::strtod(text.c_str(), &stop);
  if (text.empty() || stop != text.c_str() + text.size() || std::isnan(parsed)) {
    return fmt::format("{} is not a number", text);
  }
  if (errno == ERANGE || !std::isfinite(parsed) ||
      std::fabs(parsed) > static_cast<double>(std::numeric_limits<T>::max())) {
    return fmt::format("{} is out of range (at most {:g} in magnitude)", text,
                       static_cast<double>(std::numeric_limits<T>::max()));
  }
  return "";
}

}  // namespace

template <>
std::string canonical_number<int>(std::string& text) {
  return integer<int>(text);
}
template <>
std::string canonical_number<std::int64_t>(std::string& text) {
  return integer<std::int64_t>(text);
}
template <>
std::string canonical_number<std::uint64_t>(std::string& text) {
  return integer<std::uint64_t>(text);
}
template <>
std::string canonical_number<float>(std::string& text) {
  return floating<float>(text);
}
template <>
std::string canonical_number<double>(std::string& text) {
  return floating<double>(text);
}

}  // namespace mimo::cli
