// mimo::Tokenizer on the tiny fixture: round trips, added-token flags, merge formats, invalid
// UTF-8, config fields, and clear errors for bad or unsupported files.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "edited_fixture.hpp"
#include "mimo/error.hpp"
#include "support/catch.hpp"
#include "tiny_tokenizer.hpp"
#include "tokenizer/nfc.hpp"

namespace fs = std::filesystem;
using mimo::ErrorCode;
using mimo::TokenId;
using mimo::Tokenizer;
using mimo::test::EditedFixture;

namespace {

ErrorCode load_error(const std::string& dir) {
  try {
    Tokenizer::from_model_dir(dir);
  } catch (const mimo::Error& e) {
    return e.code();
  }
  FAIL("expected mimo::Error");
  return ErrorCode::kInternal;
}

std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> pool = {"a",
                                                "the",
                                                " ",
                                                "  ",
                                                "\n",
                                                "\t",
                                                "\r\n",
                                                "7",
                                                "42",
                                                "!",
                                                "?!",
                                                "'s",
                                                "'LL",
                                                "é",
                                                "e\xcc\x81",
                                                "\xe4\xbd\xa0\xe5\xa5\xbd",
                                                "\xf0\x9f\x98\x80",
                                                "\xe2\x80\x8d",
                                                "<|im_start|>",
                                                "<|im_end|>",
                                                "<think>",
                                                "[cat]",
                                                "na\xc3\xafve",
                                                "nai\xcc\x88ve",
                                                "\xe3\x80\x80",
                                                "{",
                                                "}"};
  std::string text;
  for (int i = 0, n = static_cast<int>(rng() % 30); i < n; ++i) text += pool[rng() % pool.size()];
  return text;
}

}  // namespace

TEST_CASE("decode(encode(text)) is the NFC of the text") {
  const Tokenizer& tok = mimo::test::tiny_tokenizer();
  std::mt19937 rng(99);
  for (int trial = 0; trial < 2000; ++trial) {
    const std::string text = random_text(rng);
    const auto ids = tok.encode(text);
    for (TokenId id : ids) REQUIRE(tok.id_to_token(id).has_value());
    REQUIRE(tok.decode(ids) == mimo::tokenizer::nfc(text));
  }
}

TEST_CASE("added tokens are matched before pre-tokenization, with their flags") {
  const Tokenizer& tok = mimo::test::tiny_tokenizer();
  const TokenId start = *tok.token_to_id("<|im_start|>"), end = *tok.token_to_id("<|im_end|>");
  const TokenId mask = *tok.token_to_id("<mask>"), cat = *tok.token_to_id("[cat]");
  const TokenId naive = *tok.token_to_id("na\xc3\xafve");
  auto ids = tok.encode("<|im_start|>user<|im_end|>");
  REQUIRE(ids.size() >= 3);
  CHECK(ids.front() == start);
  CHECK(ids.back() == end);
  CHECK(tok.decode(ids, true) == "user");
  CHECK(tok.is_special(start));
  CHECK(!tok.is_special(*tok.token_to_id("<think>")));

  // lstrip / rstrip: the whitespace around <mask> is swallowed into it.
  CHECK(tok.encode("a  <mask>\t b") ==
        std::vector<TokenId>{*tok.token_to_id("a"), mask, *tok.token_to_id("b")});
  // single_word: only between word boundaries.
  CHECK(tok.encode("[cat]") == std::vector<TokenId>{cat});
  CHECK(tok.encode("x [cat] y")[2] == cat);
  const auto glued = tok.encode("x[cat]y");
  CHECK(std::find(glued.begin(), glued.end(), cat) == glued.end());
  // normalized: matched after NFC, so the decomposed spelling finds it too.
  CHECK(tok.encode("nai\xcc\x88ve") == std::vector<TokenId>{naive});
  CHECK(tok.encode("na\xc3\xafve") == std::vector<TokenId>{naive});
}

TEST_CASE("invalid UTF-8 is replaced by U+FFFD before tokenizing, never a crash") {
  const Tokenizer& tok = mimo::test::tiny_tokenizer();
  CHECK(tok.encode("A\xff"
                   "B") == tok.encode("A\xef\xbf\xbd"
                                      "B"));
  CHECK(tok.decode(tok.encode("x\xed\xa0\x80")) == "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  std::mt19937 rng(3);
  for (int trial = 0; trial < 500; ++trial) {
    std::string bytes;
    for (int i = 0, n = static_cast<int>(rng() % 64); i < n; ++i)
      bytes.push_back(static_cast<char>(rng()));
    const auto ids = tok.encode(bytes);
    const std::string text = tok.decode(ids);
    REQUIRE(tok.encode(text) == ids);  // the replaced text is what got tokenized
  }
  // Decoding a lone byte token yields U+FFFD, ids without a token are skipped.
  const TokenId lead = *tok.token_to_id("\xc3\xa4");  // byte 0xE4 in byte-level form: "ä"
  CHECK(tok.decode({lead}) == "\xef\xbf\xbd");
  CHECK(tok.decode({-5, 1000000, *tok.token_to_id("a")}) == "a");
}

TEST_CASE("merges given as (a, b) pairs load the same as \"a b\" strings") {
  EditedFixture pairs([](nlohmann::json& root) {
    nlohmann::json converted = nlohmann::json::array();
    for (const auto& merge : root["model"]["merges"]) {
      const std::string text = merge;
      const auto space = text.find(' ');
      converted.push_back({text.substr(0, space), text.substr(space + 1)});
    }
    root["model"]["merges"] = converted;
  });
  const Tokenizer with_pairs = Tokenizer::from_model_dir(pairs.dir.string());
  const Tokenizer& tok = mimo::test::tiny_tokenizer();
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    const std::string text = random_text(rng);
    REQUIRE(with_pairs.encode(text) == tok.encode(text));
  }
}

TEST_CASE("vocabulary lookups and tokenizer_config.json fields") {
  const Tokenizer& tok = mimo::test::tiny_tokenizer();
  CHECK(tok.vocab_size() == 418);  // 410 vocabulary tokens + 8 added
  CHECK(tok.eos_id() == tok.token_to_id("<|im_end|>"));
  CHECK(tok.pad_id() == tok.token_to_id("<|endoftext|>"));
  CHECK(!tok.bos_id().has_value());
  CHECK(tok.id_to_token(65) == std::optional<std::string>("A"));
  CHECK(tok.id_to_token(-1) == std::nullopt);
  CHECK(tok.token_bytes(*tok.token_to_id("\xc4\xa0")) == " ");  // "Ġ" is the space byte
  CHECK(!tok.token_to_id("no such token").has_value());
  CHECK(tok.has_chat_template());
}

TEST_CASE("bad and unsupported tokenizer files give clear errors") {
  CHECK(load_error((fs::temp_directory_path() / "mimo_no_such_dir").string()) == ErrorCode::kIo);
  EditedFixture wordpiece([](nlohmann::json& root) { root["model"]["type"] = "WordPiece"; });
  CHECK(load_error(wordpiece.dir.string()) == ErrorCode::kUnsupported);
  EditedFixture bad_merge([](nlohmann::json& root) { root["model"]["merges"].push_back("zz qq"); });
  CHECK(load_error(bad_merge.dir.string()) == ErrorCode::kInvalidFile);
  EditedFixture bad_regex([](nlohmann::json& root) {
    root["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  });
  CHECK(load_error(bad_regex.dir.string()) == ErrorCode::kInvalidFile);
  EditedFixture not_json([](nlohmann::json&) {});
  std::ofstream(not_json.dir / "tokenizer.json") << "{ \"model\": ";
  CHECK(load_error(not_json.dir.string()) == ErrorCode::kInvalidFile);
  try {
    Tokenizer::from_model_dir(bad_merge.dir.string());
  } catch (const mimo::Error& e) {
    CHECK(std::string(e.what()).find("tokenizer.json") != std::string::npos);
    CHECK(std::string(e.what()).find("zz") != std::string::npos);
  }
}
