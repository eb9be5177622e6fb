// JsonConstraint's token masks against a brute-force check of every token (its bytes fed to the
// recognizer from scratch after the text so far), step by step along real tokenizations of
// documents, on the fixture tokenizer and the demo model's: string, key, number, literal,
// escape and UTF-8 states all come up.
#include <string>
#include <vector>

#include "mimo/error.hpp"
#include "mimo/json_constraint.hpp"
#include "mimo/tokenizer.hpp"
#include "support/catch.hpp"

namespace {

const std::string kTinyTokenizer = std::string(MIMO_TEST_DATA_DIR) + "/tokenizers/tiny";
const std::string kDemoModel = std::string(MIMO_SOURCE_DIR) + "/models/demo/mixed";

std::vector<std::string> token_bytes(const mimo::Tokenizer& tokenizer) {
  std::vector<std::string> bytes(tokenizer.vocab_size());
  for (std::size_t id = 0; id < bytes.size(); ++id) {
    const auto t = static_cast<mimo::TokenId>(id);
    if (!tokenizer.is_special(t)) bytes[id] = tokenizer.token_bytes(t);
  }
  return bytes;
}

// Walks `doc`'s tokens through a JsonConstraint, comparing the mask with brute force before
// every token and at the end.
void check_masks_along(const mimo::Tokenizer& tokenizer, const mimo::JsonGrammar& grammar,
                       const std::string& doc) {
  INFO(doc);
  const std::vector<std::string> bytes = token_bytes(tokenizer);
  auto vocabulary = mimo::TokenVocabulary::from_tokenizer(tokenizer);
  REQUIRE(vocabulary->size() == bytes.size());
  mimo::JsonConstraint constraint(grammar, vocabulary);
  const std::vector<mimo::TokenId> ids = tokenizer.encode(doc, false);
  std::string text;
  std::size_t allowed_total = 0;
  for (std::size_t step = 0; step <= ids.size(); ++step) {
    INFO("after " << step << " tokens: " << text);
    // A mask wider than the vocabulary (a model's padded vocabulary): the extra ids stay banned.
    std::vector<std::uint8_t> allowed(bytes.size() + 5, 0);
    constraint.allowed_tokens(allowed);
    std::size_t mismatches = 0;
    std::size_t first = allowed.size();
    for (std::size_t id = 0; id < allowed.size(); ++id) {
      const bool expected =
          id < bytes.size() && !bytes[id].empty() &&
          grammar.accepted_prefix(text + bytes[id]) == text.size() + bytes[id].size();
      if ((allowed[id] != 0) != expected) {
        ++mismatches;
        if (first == allowed.size()) first = id;
      }
      allowed_total += allowed[id];
    }
    INFO("first mismatch: token " << first << " "
                                  << (first < bytes.size() ? bytes[first] : std::string("-")));
    REQUIRE(mismatches == 0);
    if (step == ids.size()) break;
    const mimo::TokenId next = ids[step];
    REQUIRE(allowed[static_cast<std::size_t>(next)] == 1);
    constraint.accept(next);
    text += bytes[static_cast<std::size_t>(next)];
    CHECK(constraint.text() == text);
  }
  CHECK(text == doc);
  CHECK(constraint.complete());
  CHECK(allowed_total > 0);
}

const std::vector<std::string> kObjectDocs = {
    R"({"name": "Ann", "values": [1, -2.5e3, 0], "nested": {"ok": true, "none": null}})",
    "{\"text\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\u00e9 \\\"q\\\" \\n\"}",
    "{\n  \"def\": \"fib(n):\\n    return n\",\n  \"list\": [\n    {}\n  ]\n}",
};

}  // namespace

TEST_CASE("json masks equal brute force on the fixture tokenizer", "[constraint]") {
  const mimo::Tokenizer tokenizer = mimo::Tokenizer::from_model_dir(kTinyTokenizer);
  for (const std::string& doc : kObjectDocs) {
    check_masks_along(tokenizer, mimo::JsonGrammar::object(), doc);
  }
}

TEST_CASE("json masks equal brute force on the demo tokenizer", "[constraint]") {
  const mimo::Tokenizer tokenizer = mimo::Tokenizer::from_model_dir(kDemoModel);
  for (const std::string& doc : kObjectDocs) {
    check_masks_along(tokenizer, mimo::JsonGrammar::object(), doc);
  }
  const mimo::JsonGrammar schema = mimo::JsonGrammar::schema(R"({
    "type": "object",
    "properties": {"name": {"type": "string"}, "count": {"type": "integer"},
                   "kind": {"enum": ["alpha", "beta"]}, "items": {"type": "array",
                   "items": {"type": "number"}}},
    "required": ["name", "kind"], "additionalProperties": false})");
  check_masks_along(tokenizer, schema, R"({"name": "x y", "count": 12, "kind": "beta"})");
  check_masks_along(tokenizer, schema, R"({"kind": "alpha", "items": [1.5, -2], "name": ""})");
}

TEST_CASE("JsonConstraint: special tokens are never allowed, refused tokens throw",
          "[constraint]") {
  const mimo::Tokenizer tokenizer = mimo::Tokenizer::from_model_dir(kTinyTokenizer);
  auto vocabulary = mimo::TokenVocabulary::from_tokenizer(tokenizer);
  mimo::JsonConstraint constraint(mimo::JsonGrammar::object(), vocabulary);
  std::vector<std::uint8_t> allowed(tokenizer.vocab_size(), 0);
  constraint.allowed_tokens(allowed);
  std::size_t specials = 0;
  for (std::size_t id = 0; id < allowed.size(); ++id) {
    if (tokenizer.is_special(static_cast<mimo::TokenId>(id))) {
      ++specials;
      CHECK(allowed[id] == 0);
    }
  }
  CHECK(specials > 0);
  const auto brace = tokenizer.encode("{", false);
  REQUIRE(brace.size() == 1);
  const auto letter = tokenizer.encode("a", false);
  CHECK_THROWS_AS(constraint.accept(letter.at(0)), mimo::Error);
  CHECK(constraint.text().empty());  // the refused token left no trace
  constraint.accept(brace[0]);
  CHECK(constraint.text() == "{");
  CHECK_FALSE(constraint.complete());
  CHECK_THROWS_AS(constraint.accept(-1), mimo::Error);
  CHECK_THROWS_AS(constraint.accept(static_cast<std::int32_t>(tokenizer.vocab_size())),
                  mimo::Error);
}

TEST_CASE("TokenVocabulary::from_bytes: duplicate and empty byte strings", "[constraint]") {
  auto vocabulary = mimo::TokenVocabulary::from_bytes({"{", "}", "{", "", "{}", "\"", "a"});
  mimo::JsonConstraint constraint(mimo::JsonGrammar::object(), vocabulary);
  std::vector<std::uint8_t> allowed(7, 0);
  constraint.allowed_tokens(allowed);
  CHECK(allowed == std::vector<std::uint8_t>{1, 0, 1, 0, 1, 0, 0});
  constraint.accept(4);
  CHECK(constraint.complete());
  std::fill(allowed.begin(), allowed.end(), 0);
  constraint.allowed_tokens(allowed);
  CHECK(allowed == std::vector<std::uint8_t>(7, 0));
}
