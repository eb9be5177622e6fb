// Reading token-id lists ("1 2 3" or "1,2,3", any whitespace) from a file for mimo-cli.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mimo::cli {

// Throws std::runtime_error naming the file and the offending text.
std::vector<std::int32_t> read_token_file(const std::string& path);
std::vector<std::int32_t> parse_token_list(const std::string& text, const std::string& label);

}  // namespace mimo::cli
