// Numeric command-line options read exactly: a value out of its type's range (--seed beyond 64
// bits, -t beyond int, --temp 1e99 for a float), a sign on an unsigned option, or anything but
// a plain decimal number is a usage error. CLI11 alone clamps or wraps such values silently.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <type_traits>

namespace mimo::cli {

// Checks `text` as a T; on success rewrites it in canonical decimal (so CLI11 reads "010" as
// 10, not octal 8) and returns "", else returns the error message.
template <typename T>
std::string canonical_number(std::string& text);

template <typename T>
CLI::Option* add_number_option(CLI::App& app, const std::string& names, T& value,
                               const std::string& description) {
  static_assert(std::is_arithmetic_v<T>);
  return app.add_option(names, value, description)
      ->transform(CLI::Validator([](std::string& text) { return canonical_number<T>(text); }, "",
                                 "exact number"));
}

}  // namespace mimo::cli
