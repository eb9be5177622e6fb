// mimo-cli's token-id lists (examples/cli/token_file): the accepted forms, and the clean
// mimo::Error each hostile file gets - with its code, the file, the line and column, and the
// offending text escaped.
#include "cli/token_file.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include "mimo/error.hpp"
#include "support/catch.hpp"
#include "support/error_message.hpp"

namespace fs = std::filesystem;
using mimo::ErrorCode;
using mimo::cli::check_token_ids;
using mimo::cli::parse_token_list;
using mimo::cli::read_token_file;
using Ids = std::vector<std::int32_t>;

namespace {

using mimo::testing::error_message;

struct ScratchDir {
  fs::path path =
      fs::temp_directory_path() / ("mimo_token_file_" + std::to_string(std::random_device{}()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path / name, std::ios::binary) << bytes;
    return (path / name).string();
  }
};

void check_refused(const std::string& text, const std::string& expected_part) {
  INFO("text: " << text);
  const std::string message =
      error_message([&] { parse_token_list(text, "ids.txt"); }, ErrorCode::kInvalidArgument);
  INFO("message: " << message);
  CHECK(message.rfind("ids.txt: ", 0) == 0);
  CHECK(message.find(expected_part) != std::string::npos);
}

}  // namespace

TEST_CASE("token lists: spaces, commas, newlines and one pair of brackets", "[cli][tokens]") {
  CHECK(parse_token_list("1 2 3", "x") == Ids{1, 2, 3});
  CHECK(parse_token_list("1,2,3\n", "x") == Ids{1, 2, 3});
  CHECK(parse_token_list(" [1, 2,\n 3] \n", "x") == Ids{1, 2, 3});
  CHECK(parse_token_list("[]", "x").empty());
  CHECK(parse_token_list("", "x").empty());
  CHECK(parse_token_list("\t\r\n ,, ", "x").empty());
  CHECK(parse_token_list("0 2147483647", "x") == Ids{0, 2147483647});
  // Decimal whatever the leading zeros (no octal), and as many of them as the file has.
  CHECK(parse_token_list("010 000000000000000000042", "x") == Ids{10, 42});
}

TEST_CASE("token lists: each malformed form is refused naming line, column and text",
          "[cli][tokens]") {
  check_refused("1 -2 3",
                "line 1, column 3: expected a token id (a non-negative decimal number), "
                "found '-2'");
  check_refused("1\n2\n+3", "line 3, column 1: expected a token id");
  check_refused("12abc",
                "column 1: expected a token id (a non-negative decimal number), found "
                "'12abc'");
  check_refused("1.5", "found '1.5'");
  check_refused("0x10", "found '0x10'");
  check_refused("2147483648", "token id '2147483648' is beyond the largest id, 2147483647");
  check_refused("7 99999999999999999999999999999",
                "column 3: token id '999999999999999999999999...'");
  check_refused("[1, 2", "the list opened with '[' has no closing ']'");
  check_refused("1, 2]", "column 5: unexpected ']'");
  check_refused("[1] 2", "column 5: text after the closing ']': '2'");
  check_refused("[[1]]", "column 2: expected a token id");
  check_refused("1 [2]",
                "column 3: expected a token id (a non-negative decimal number), found '[2'");
  // Bytes that are not printable ASCII are escaped, never copied into the message.
  check_refused(std::string("5 \xff\x00\x1b", 5), "found '\\xff\\x00\\x1b'");
  check_refused("5 naïve", "found 'na\\xc3\\xafve'");
}

TEST_CASE("token files: unreadable, empty and malformed files", "[cli][tokens]") {
  const ScratchDir scratch;
  CHECK(read_token_file(scratch.write("ok.txt", "[5, 17]\n")) == Ids{5, 17});

  std::string message = error_message(
      [&] { read_token_file((scratch.path / "missing.txt").string()); }, ErrorCode::kIo);
  CHECK(message.find("missing.txt: cannot open the token file") != std::string::npos);
  message = error_message([&] { read_token_file(scratch.path.string()); }, ErrorCode::kIo);
  CHECK(message.find("is a directory") != std::string::npos);

  // Content errors are kInvalidFile and name the file.
  const std::string empty = scratch.write("empty.txt", "\n \n");
  message = error_message([&] { read_token_file(empty); }, ErrorCode::kInvalidFile);
  CHECK(message == empty + ": no token ids");
  const std::string bad = scratch.write("bad.txt", "1 2\n3 four\n");
  message = error_message([&] { read_token_file(bad); }, ErrorCode::kInvalidFile);
  CHECK(message == bad +
                       ": line 2, column 3: expected a token id (a non-negative decimal number), "
                       "found 'four'");
}

TEST_CASE("token ids are checked against the vocabulary by index", "[cli][tokens]") {
  check_token_ids({0, 255}, 256, "ids.txt");
  const std::string message = error_message(
      [] {
        check_token_ids({3, 256, 4}, 256, "ids.txt");
      },
      ErrorCode::kInvalidArgument);
  CHECK(message == "ids.txt: token 1 (id 256) is outside the vocabulary (ids 0..255)");
}
