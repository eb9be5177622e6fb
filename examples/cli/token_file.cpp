// Token-id list parsing for mimo-cli.
#include "cli/token_file.hpp"

#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace mimo::cli {

std::vector<std::int32_t> parse_token_list(const std::string& text, const std::string& label) {
  std::vector<std::int32_t> ids;
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (std::isspace(c) || c == ',') {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    const bool separated = end == text.size() ||
                           std::isspace(static_cast<unsigned char>(text[end])) || text[end] == ',';
    if (end == i || !separated || end - i > 10) {
      std::size_t stop = text.find_first_of(" \t\r\n,", i);
      throw std::runtime_error(
          fmt::format("{}: expected a non-negative token id, found '{}'", label,
                      text.substr(i, stop == std::string::npos ? 20 : stop - i)));
    }
    const long long value = std::stoll(text.substr(i, end - i));
    if (value > std::numeric_limits<std::int32_t>::max()) {
      throw std::runtime_error(fmt::format("{}: token id {} is too large", label, value));
    }
    ids.push_back(static_cast<std::int32_t>(value));
    i = end;
  }
  return ids;
}

std::vector<std::int32_t> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open token file {}", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_token_list(buffer.str(), path);
}

}  // namespace mimo::cli
