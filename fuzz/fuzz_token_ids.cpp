// libFuzzer entry: arbitrary bytes as a token-id file of mimo-cli (`score --tokens`, `generate
// --tokens`, `detokenize`). Parsing must return exactly the file's digit runs as ids or throw a
// mimo::Error(kInvalidArgument) whose message names the label and a line and holds nothing but
// printable ASCII (the offending bytes escaped) - never crash, hang or throw another type.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/token_file.hpp"
#include "mimo/error.hpp"

namespace {

// The values of the maximal runs of decimal digits in `text`, leading zeros dropped; -1 for a
// run beyond int32. An accepted list holds exactly these.
std::vector<std::int64_t> digit_runs(const std::string& text) {
  std::vector<std::int64_t> runs;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] < '0' || text[i] > '9') {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    std::size_t first = i;
    while (first + 1 < end && text[first] == '0') ++first;
    runs.push_back(end - first > 10 ? -1 : std::stoll(text.substr(first, end - first)));
    i = end;
  }
  return runs;
}

void check_message(const std::string& message) {
  if (message.rfind("fuzz.txt: line ", 0) != 0) std::abort();
  for (const char c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::int32_t> ids;
  try {
    ids = mimo::cli::parse_token_list(text, "fuzz.txt");
  } catch (const mimo::Error& e) {
    if (e.code() != mimo::ErrorCode::kInvalidArgument) std::abort();
    check_message(e.what());
    return 0;
  }
  const std::vector<std::int64_t> runs = digit_runs(text);
  if (runs.size() != ids.size()) std::abort();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || runs[i] != ids[i]) std::abort();
  }
  return 0;
}
