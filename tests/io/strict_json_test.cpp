// io::parse_json_strict: the same tree as nlohmann's parser for valid JSON, and the refusals it
// adds - a key repeated in one object at any depth, nesting beyond 64 levels - plus nlohmann's
// own (syntax, invalid UTF-8, trailing text), each a mimo::Error(kInvalidFile) naming the label.
#include "io/strict_json.hpp"

#include <nlohmann/json.hpp>
#include <string>

#include "mimo/error.hpp"
#include "support/catch.hpp"

using mimo::io::parse_json_strict;
using nlohmann::json;

namespace {

std::string refusal(const std::string& text) {
  try {
    parse_json_strict(text, "f.json");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kInvalidFile);
    CHECK(std::string(e.what()).rfind("f.json: ", 0) == 0);
    return e.what();
  }
  FAIL("accepted: " << text);
  return {};
}

std::string nested_arrays(int levels, const std::string& leaf) {
  return std::string(levels, '[') + leaf + std::string(levels, ']');
}

}  // namespace

TEST_CASE("strict JSON: valid documents parse to nlohmann's tree", "[io][json]") {
  const std::string document = R"({"model": {"vocab": {"a": 0, "b": 1, "\u00e9": 2},
    "merges": ["a b", ["a", "b"]]}, "n": -3, "u": 18446744073709551615, "f": 1.5e-3,
    "t": true, "z": null, "e": [], "o": {}, "s": "x\ny"})";
  CHECK(parse_json_strict(document, "f.json") == json::parse(document));
  for (const std::string scalar : {"3", "\"s\"", "null", "[1, [2, [3]]]", "{}"}) {
    CHECK(parse_json_strict(scalar, "f.json") == json::parse(scalar));
  }
  // The same key in different objects, or as a value, is fine.
  CHECK(parse_json_strict(R"({"a": {"a": "a"}, "b": [{"a": 1}, {"a": 2}]})", "f.json")
            .at("b")[1]
            .at("a") == 2);
}

TEST_CASE("strict JSON: repeated keys are refused at any depth", "[io][json]") {
  CHECK(refusal(R"({"a": 1, "a": 2})") == "f.json: duplicate JSON key \"a\"");
  CHECK(refusal(R"({"x": [{"k": 1, "j": 2, "k": 3}]})") == "f.json: duplicate JSON key \"k\"");
  CHECK(refusal(R"({"x": {"\u0061": 1, "a": 2}})") == "f.json: duplicate JSON key \"a\"");
}

TEST_CASE("strict JSON: nesting is bounded at 64 levels", "[io][json]") {
  CHECK(parse_json_strict(nested_arrays(64, "1"), "f.json") == json::parse(nested_arrays(64, "1")));
  CHECK(parse_json_strict(nested_arrays(63, "{\"a\": 1}"), "f.json").is_array());
  CHECK(refusal(nested_arrays(65, "")) == "f.json: JSON nested deeper than 64 levels");
  CHECK(refusal(nested_arrays(64, "{}")) == "f.json: JSON nested deeper than 64 levels");
  // Far deeper input fails as fast, without recursion.
  CHECK(refusal(nested_arrays(1000000, "")) == "f.json: JSON nested deeper than 64 levels");
}

TEST_CASE("strict JSON: syntax errors, invalid UTF-8 and trailing text", "[io][json]") {
  for (const std::string bad :
       {"", "{", "{\"a\" 1}", "[1,]", "{\"a\": 1} x", "\"\xff\"", "[1] [2]", "nan"}) {
    CHECK(refusal(bad).find("invalid JSON") != std::string::npos);
  }
}
