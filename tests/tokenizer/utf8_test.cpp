// UTF-8 validation and WHATWG-style replacement (what JS TextDecoder does with bad bytes).
#include "tokenizer/utf8.hpp"

#include <random>

#include "support/catch.hpp"

using namespace mimo::tokenizer;

namespace {

const std::string kFffd = "\xEF\xBF\xBD";

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("sanitize_utf8 replaces each maximal invalid subpart with one U+FFFD") {
  CHECK(sanitize_utf8("A\xff"
                      "B") == "A" + kFffd + "B");
  CHECK(sanitize_utf8("\xe2\x82"
                      "B") == kFffd + "B");  // truncated 3-byte sequence
  CHECK(sanitize_utf8("x\xed\xa0\x80y") == "x" + repeat(kFffd, 3) + "y");  // UTF-16 surrogate
  CHECK(sanitize_utf8("\xc0\x80") == repeat(kFffd, 2));                    // overlong NUL
  CHECK(sanitize_utf8("\xe0\x80\xaf") == repeat(kFffd, 3));                // overlong '/'
  CHECK(sanitize_utf8("\xf4\x90\x80\x80") == repeat(kFffd, 4));            // above U+10FFFF
  CHECK(sanitize_utf8("ok\xf0\x9f") == "ok" + kFffd);    // cut 4-byte sequence at end
  CHECK(sanitize_utf8("\x80\x81") == repeat(kFffd, 2));  // lone continuation bytes
  const std::string valid = "caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80";
  CHECK(is_valid_utf8(valid));
  CHECK(sanitize_utf8(valid) == valid);
}

TEST_CASE("sanitize_utf8 output is valid and independent of how the input is chunked") {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255), pick(0, 9), length(0, 40);
  const unsigned char interesting[] = {0x41, 0x80, 0xBF, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFF};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string input;
    for (int i = 0, n = length(rng); i < n; ++i) {
      input.push_back(static_cast<char>(pick(rng) < 5 ? interesting[pick(rng)] : byte(rng)));
    }
    const std::string whole = sanitize_utf8(input);
    REQUIRE(is_valid_utf8(whole));
    if (is_valid_utf8(input)) CHECK(whole == input);
    Utf8Sanitizer incremental;
    std::string chunked;
    std::size_t pos = 0;
    while (pos < input.size()) {
      const std::size_t take = std::min<std::size_t>(input.size() - pos, 1 + pick(rng) % 4);
      incremental.feed(std::string_view(input).substr(pos, take), chunked);
      pos += take;
    }
    incremental.finish(chunked);
    REQUIRE(chunked == whole);
  }
}

TEST_CASE("next_codepoint and append_utf8 round-trip every scalar value") {
  for (char32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x800 ? 1 : 37)) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string encoded;
    append_utf8(cp, encoded);
    REQUIRE(is_valid_utf8(encoded));
    std::size_t pos = 0;
    REQUIRE(next_codepoint(encoded, pos) == cp);
    REQUIRE(pos == encoded.size());
  }
}
