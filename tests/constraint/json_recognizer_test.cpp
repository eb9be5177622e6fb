// The JSON recognizer in json_object mode (mimo::JsonGrammar::object): valid documents and every
// prefix of them accepted, invalid ones refused at the first byte no valid document can follow,
// and agreement with nlohmann::json on random documents and their mutations.
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "mimo/error.hpp"
#include "mimo/json_constraint.hpp"
#include "support/catch.hpp"

namespace {

const std::vector<std::string> kValid = {
    "{}",
    "{ }",
    R"({"a":1})",
    R"({"a": [1, 2.5, -3e10, 0, -0.0, 1E+2, 2e-3], "b": {"c": null}})",
    R"({"s": "plain \"quoted\" \\ \/ \b\f\n\r\t \u00e9 \uD83D\uDE00 end"})",
    "{\"utf8\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \x7f\"}",
    R"({"t": true, "f": false, "n": null, "e": [], "o": {}})",
    "{\n  \"pretty\": [\n    1,\n    {\"x\": \"y\"}\n  ]\n}",
    R"({"deep": [[[[[[[[[[{"k": [[]]}]]]]]]]]]]})",
    R"({"": "", "dup": 1, "dup": 2})",
    R"({"num": 123456789012345678901234567890.123456789e-123})",
    R"({"big": 1e307, "small": -9.99e-999999, "padded": 1E+000307, "zero": 0e308})",
    "{\"wide\": " + std::string(308, '9') + ".5}",
};

// Invalid documents and the index of the first byte that no valid document can follow.
const std::vector<std::pair<std::string, std::size_t>> kInvalid = {
    {"[]", 0},  // the top-level value must be an object
    {"\"s\"", 0},
    {"1", 0},
    {"{} ", 2},  // nothing after the value, not even whitespace
    {"{}{}", 2},
    {"{,}", 1},
    {R"({"a" 1})", 5},
    {R"({"a":})", 5},
    {R"({"a":1,})", 7},
    {R"({"a":[1,]})", 8},
    {R"({"a":01})", 6},
    {R"({"a":-})", 6},
    {R"({"a":1.})", 7},
    {R"({"a":1e})", 7},
    {R"({"a":.5})", 5},
    {R"({"a":+1})", 5},
    {R"({"a":tru})", 8},
    {R"({"a":nul1})", 8},
    {R"({"a":True})", 5},
    {"{\"a\":\"\x01\"}", 6},  // raw control byte
    {"{\"a\":\"\n\"}", 6},
    {R"({"a":"\x"})", 7},  // unknown escape
    {R"({"a":"\u12G4"})", 10},
    {R"({"a":"\uDE00"})", 9},   // a lone low surrogate
    {R"({"a":"\uD83D"})", 12},  // a high surrogate without its low half
    {R"({"a":"\uD83D\u0041"})", 14},
    {"{\"a\":\"\xc0\xaf\"}", 6},  // overlong
    {"{\"a\":\"\xe0\x80\x80\"}", 7},
    {"{\"a\":\"\xed\xa0\x80\"}", 7},      // UTF-8 surrogate
    {"{\"a\":\"\xf4\x90\x80\x80\"}", 7},  // past U+10FFFF
    {"{\"a\":\"\xc3\"}", 7},              // cut character
    {"{\"a\":\"\xff\"}", 6},
    {R"({a:1})", 1},
    {R"({'a':1})", 1},
    {R"({"a":1]})", 6},
    {R"({"a":[1}})", 7},
    {"{\"a\":" + std::string(17, ' ') + "1}", 21},  // 17 spaces: over the limit of 16
    // Numbers stay below 10^308, so a double holds them (nlohmann refuses an overflow; 1e308
    // itself would fit, but the bound counts digits).
    {R"({"a":1e308})", 9},
    {R"({"a":12e307})", 10},
    {"{\"a\":" + std::string(309, '1') + "}", 5 + 308},
};

std::string random_value(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 4 ? 4 : 6);
  std::uniform_int_distribution<int> small(0, 3);
  static const std::vector<std::string> strings = {"\"\"",
                                                   "\"abc\"",
                                                   "\"a\\\"b\"",
                                                   "\"\\u00e9\"",
                                                   "\"\xc3\xa9t\xc3\xa9\"",
                                                   "\"\\uD83D\\uDE00\""};
  static const std::vector<std::string> numbers = {"0", "-1", "3.25", "1e5", "-0.5E-3", "42"};
  static const std::vector<std::string> literals = {"true", "false", "null"};
  const std::string ws[] = {"", " ", "\n  ", "\t"};
  switch (kind(rng)) {
    case 0:
    case 1:
      return strings[rng() % strings.size()];
    case 2:
      return numbers[rng() % numbers.size()];
    case 3:
    case 4:
      return literals[rng() % literals.size()];
    case 5: {
      std::string out = "[" + ws[small(rng)];
      for (int i = 0, n = small(rng); i < n; ++i) {
        if (i > 0) out += "," + ws[small(rng)];
        out += random_value(rng, depth + 1);
      }
      return out + ws[small(rng)] + "]";
    }
    default:
      break;
  }
  std::string out = "{" + ws[small(rng)];
  for (int i = 0, n = small(rng); i < n; ++i) {
    if (i > 0) out += "," + ws[small(rng)];
    out += "\"k" + std::to_string(i) + "\"" + ws[small(rng)] + ":" + ws[small(rng)] +
           random_value(rng, depth + 1);
  }
  return out + ws[small(rng)] + "}";
}

std::string random_object(std::mt19937& rng) {
  std::string v;
  do {
    v = random_value(rng, 0);
  } while (v[0] != '{');
  return v;
}

// What json_object mode admits, by nlohmann: an object, no whitespace after it, no run of more
// than 16 whitespace bytes, at most 64 levels.
bool reference_accepts(const std::string& text) {
  if (!nlohmann::json::accept(text)) return false;
  const nlohmann::json v = nlohmann::json::parse(text);
  if (!v.is_object() || text.back() != '}') return false;
  int run = 0;
  for (char c : text) {
    run = (c == ' ' || c == '\n' || c == '\r' || c == '\t') ? run + 1 : 0;
    if (run > 16) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("json_object: valid documents and every prefix of them are accepted", "[constraint]") {
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::object();
  for (const std::string& doc : kValid) {
    INFO(doc);
    REQUIRE(nlohmann::json::accept(doc));
    CHECK(grammar.accepts(doc));
    for (std::size_t n = 0; n <= doc.size(); ++n) {
      CHECK(grammar.accepted_prefix(doc.substr(0, n)) == n);
      // Only the whole document is complete.
      CHECK(grammar.accepts(doc.substr(0, n)) == (n == doc.size()));
    }
  }
}

TEST_CASE("json_object: invalid documents are refused at their first bad byte", "[constraint]") {
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::object();
  for (const auto& [doc, bad] : kInvalid) {
    INFO(doc);
    CHECK(grammar.accepted_prefix(doc) == bad);
    CHECK_FALSE(grammar.accepts(doc));
  }
}

TEST_CASE("json_object: nesting is bounded by max_depth", "[constraint]") {
  mimo::JsonGrammarOptions options;
  options.max_depth = 3;
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::object(options);
  CHECK(grammar.accepts(R"({"a":[{"b":1}]})"));
  CHECK(grammar.accepted_prefix(R"({"a":[[[1]]]})") == 7);
  options.max_whitespace = 0;
  CHECK(mimo::JsonGrammar::object(options).accepted_prefix("{ }") == 1);
  options.max_depth = 0;
  CHECK_THROWS_AS(mimo::JsonGrammar::object(options), mimo::Error);
  options.max_depth = 3;
  options.max_whitespace = 70000;
  CHECK_THROWS_AS(mimo::JsonGrammar::object(options), mimo::Error);
}

TEST_CASE("json_object: agrees with nlohmann on random documents and mutations", "[constraint]") {
  const mimo::JsonGrammar grammar = mimo::JsonGrammar::object();
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,. -+0123456789eEtrufalsn\\u\"abc\n\xc3\xa9\x01";
  int accepted = 0, refused = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string doc = random_object(rng);
    INFO(doc);
    REQUIRE(grammar.accepts(doc) == reference_accepts(doc));
    REQUIRE(grammar.accepted_prefix(doc) == doc.size());
    for (int m = 0; m < 3; ++m) {
      std::string mutated = doc;
      const std::size_t at = rng() % mutated.size();
      switch (rng() % 3) {
        case 0:
          mutated[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          mutated.erase(at, 1);
          break;
        default:
          mutated.insert(at, 1, alphabet[rng() % alphabet.size()]);
      }
      if (mutated.empty()) continue;
      INFO(mutated);
      const bool ours = grammar.accepts(mutated);
      CHECK(ours == reference_accepts(mutated));
      (ours ? accepted : refused) += 1;
    }
  }
  CHECK(accepted > 100);
  CHECK(refused > 1000);
}
