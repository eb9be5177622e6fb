// TokenStreamDecoder: never emits broken UTF-8, reproduces decode(), and stops at stop strings
// that span tokens without leaking any part of them.
#include <random>

#include "support/catch.hpp"
#include "tiny_tokenizer.hpp"
#include "tokenizer/utf8.hpp"

using mimo::TokenId;
using mimo::TokenStreamDecoder;

namespace {

// Random ids, biased toward single-byte tokens that split UTF-8 sequences.
std::vector<TokenId> random_ids(std::mt19937& rng, const mimo::Tokenizer& tok) {
  std::vector<TokenId> ids;
  const std::string text = "h\xc3\xa9llo \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 the end";
  for (int i = 0, n = static_cast<int>(rng() % 24); i < n; ++i) {
    if (rng() % 3 == 0) {
      ids.push_back(static_cast<TokenId>(rng() % tok.vocab_size()));
    } else {
      const unsigned char byte = static_cast<unsigned char>(text[rng() % text.size()]);
      ids.push_back(static_cast<TokenId>(byte));  // the fixture's byte tokens have id == byte
    }
  }
  return ids;
}

}  // namespace

TEST_CASE("streamed text is valid UTF-8 piece by piece and adds up to decode()") {
  const mimo::Tokenizer& tok = mimo::test::tiny_tokenizer();
  std::mt19937 rng(21);
  for (int trial = 0; trial < 3000; ++trial) {
    const auto ids = random_ids(rng, tok);
    TokenStreamDecoder stream(tok);
    std::string streamed;
    for (TokenId id : ids) {
      const auto piece = stream.push(id);
      REQUIRE(mimo::tokenizer::is_valid_utf8(piece.text));
      REQUIRE(!piece.stopped);
      streamed += piece.text;
    }
    streamed += stream.flush().text;
    REQUIRE(streamed == tok.decode(ids, true));
  }
}

TEST_CASE("a multi-byte character split over byte tokens comes out whole") {
  const mimo::Tokenizer& tok = mimo::test::tiny_tokenizer();
  TokenStreamDecoder stream(tok);
  CHECK(stream.push(0xF0).text.empty());
  CHECK(stream.push(0x9F).text.empty());
  CHECK(stream.push(0x98).text.empty());
  CHECK(stream.push(0x80).text == "\xf0\x9f\x98\x80");
  CHECK(stream.push(0xE4).text.empty());
  CHECK(stream.flush().text == "\xef\xbf\xbd");  // an unfinished sequence at the end
}

TEST_CASE("stop strings spanning tokens end the stream exactly before them") {
  const mimo::Tokenizer& tok = mimo::test::tiny_tokenizer();
  std::mt19937 rng(8);
  int stops_seen = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const auto ids = random_ids(rng, tok);
    const std::string full = tok.decode(ids, true);
    if (full.size() < 2) continue;
    // A stop string cut from the text at a character boundary, plus one that never occurs.
    std::size_t from = rng() % full.size();
    while (from > 0 && (static_cast<unsigned char>(full[from]) & 0xC0) == 0x80) --from;
    std::size_t to = std::min(full.size(), from + 1 + rng() % 6);
    while (to < full.size() && (static_cast<unsigned char>(full[to]) & 0xC0) == 0x80) ++to;
    const std::string stop = full.substr(from, to - from);
    TokenStreamDecoder stream(tok, {"\x01never", stop});
    std::string streamed;
    bool stopped = false;
    for (TokenId id : ids) {
      const auto piece = stream.push(id);
      streamed += piece.text;
      if (piece.stopped) {
        stopped = true;
        CHECK(piece.stop_string == stop);
        break;
      }
    }
    if (!stopped) {
      const auto last = stream.flush();
      streamed += last.text;
      stopped = last.stopped;
    }
    REQUIRE(stopped);
    REQUIRE(streamed == full.substr(0, full.find(stop)));
    ++stops_seen;
    CHECK(stream.push(ids.front()).text.empty());  // nothing after a stop
  }
  CHECK(stops_seen > 1000);
}

TEST_CASE("text that may begin a stop string is held back, then released") {
  const mimo::Tokenizer& tok = mimo::test::tiny_tokenizer();
  TokenStreamDecoder stream(tok, {"<|user|>"});
  std::string out;
  for (TokenId id : tok.encode("ok <|us")) out += stream.push(id).text;
  CHECK(out == "ok ");
  out += stream.flush().text;
  CHECK(out == "ok <|us");
  CHECK(!stream.stopped());
}
