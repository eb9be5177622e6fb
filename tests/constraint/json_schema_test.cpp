// json_schema mode (mimo::JsonGrammar::schema): the supported subset enforced byte by byte
// (types, properties, required, additionalProperties false, items, enum, const), prefixes of
// valid documents accepted, and schemas outside the subset refused naming their path.
#include <string>
#include <vector>

#include "mimo/error.hpp"
#include "mimo/json_constraint.hpp"
#include "support/catch.hpp"

namespace {

const char* kPerson = R"({
  "type": "object",
  "title": "a person",
  "properties": {
    "name": {"type": "string", "description": "full name"},
    "age": {"type": "integer"},
    "height": {"type": "number"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "role": {"enum": ["admin", "user", 3, null]},
    "ok": {"type": "boolean"},
    "nothing": {"type": "null"},
    "kind": {"const": "person"},
    "address": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"], "additionalProperties": false},
    "either": {"type": ["string", "null"]}
  },
  "required": ["name", "age"],
  "additionalProperties": false
})";

void check_valid(const mimo::JsonGrammar& g, const std::string& doc) {
  INFO(doc);
  CHECK(g.accepts(doc));
  for (std::size_t n = 0; n < doc.size(); ++n) CHECK(g.accepted_prefix(doc.substr(0, n)) == n);
}

std::string schema_error(const std::string& schema) {
  try {
    mimo::JsonGrammar::schema(schema);
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kInvalidArgument);
    return e.what();
  }
  FAIL("accepted: " << schema);
  return "";
}

}  // namespace

TEST_CASE("json_schema: documents of the schema and their prefixes are accepted", "[constraint]") {
  const mimo::JsonGrammar g = mimo::JsonGrammar::schema(kPerson);
  check_valid(g, R"({"name": "Ann", "age": 41})");
  check_valid(g, R"({"age": -3, "name": "B\u00e9a", "height": 1.75e0, "tags": ["a", "b"]})");
  check_valid(g, R"({"name": "", "age": 0, "role": "admin", "ok": false, "nothing": null})");
  check_valid(g, R"({"name": "x", "age": 1, "role": 3, "kind": "person", "either": null})");
  check_valid(g, R"({"name": "x", "age": 1, "role": null, "address": {"city": "Oslo"}})");
  check_valid(g, R"({"name": "x", "age": 1, "either": "s", "tags": []})");
}

TEST_CASE("json_schema: violations are refused at their first bad byte", "[constraint]") {
  const mimo::JsonGrammar g = mimo::JsonGrammar::schema(kPerson);
  const std::vector<std::pair<std::string, std::size_t>> cases = {
      {R"({"name": "x"})", 12},             // '}' before the required "age"
      {R"({"age": 1.5, "name": "x"})", 9},  // an integer has no fraction
      {R"({"age": 1e3, "name": "x"})", 9},  // nor an exponent
      {R"({"name": 1, "age": 1})", 9},      // a string expected
      {R"({"nam": "x", "age": 1})", 5},     // not a property (additionalProperties false)
      {R"({"namex": "x", "age": 1})", 6},
      {R"({"name": "x", "name": "y", "age": 1})", 16},  // a property written twice
      {R"({"name": "x", "age": 1, "role": "root"})", 33},
      {R"({"name": "x", "age": 1, "tags": [1]})", 33},
      {R"({"name": "x", "age": 1, "kind": "robot"})", 33},
      {R"({"name": "x", "age": 1, "address": {}})", 36},  // city is required
      // The comma: "city" was the only property left to write.
      {R"({"name": "x", "age": 1, "address": {"city": "a", "zip": 1}})", 47},
      {R"({"name": "x", "age": 1, "either": 5})", 34},
      {R"({"name": "x", "age": 1, "ok": null})", 30},
      {R"({"na\u006de": "x", "age": 1})", 4},  // keys are matched unescaped
      {R"([])", 0},
  };
  for (const auto& [doc, bad] : cases) {
    INFO(doc);
    CHECK(g.accepted_prefix(doc) == bad);
    CHECK_FALSE(g.accepts(doc));
  }
}

TEST_CASE("json_schema: a strict object with every property written takes no comma",
          "[constraint]") {
  const mimo::JsonGrammar g = mimo::JsonGrammar::schema(
      R"({"type": "object", "properties": {"a": {"type": "integer"}, "ab": {"type": "integer"}},
          "additionalProperties": false})");
  check_valid(g, R"({"a": 1, "ab": 2})");
  check_valid(g, R"({"ab": 2, "a": 1})");
  check_valid(g, R"({})");
  CHECK(g.accepted_prefix(R"({"a": 1, "ab": 2,)") == 16);
  CHECK(g.accepted_prefix(R"({"ab": 2, "ab)") == 12);  // only "a" is left, and it has no "b"
  const mimo::JsonGrammar none =
      mimo::JsonGrammar::schema(R"({"type": "object", "additionalProperties": false})");
  CHECK(none.accepts("{}"));
  CHECK(none.accepted_prefix(R"({"x": 1})") == 1);
}

TEST_CASE("json_schema: open objects take any further key, and known keys keep their schema",
          "[constraint]") {
  const mimo::JsonGrammar g =
      mimo::JsonGrammar::schema(R"({"type": "object", "properties": {"n": {"type": "number"}}})");
  check_valid(g, R"({"n": 1, "other": [true, {"x": "\n"}], "n2": "s", "m)"
                 "\xc3\xa9"
                 R"(": 0})");
  CHECK(g.accepted_prefix(R"({"n": "s"})") == 6);
  CHECK(g.accepted_prefix(R"({"n": 1, "n": 2})") == 11);  // "n" twice
}

TEST_CASE("json_schema: top-level scalars, enums and the empty schema", "[constraint]") {
  const mimo::JsonGrammar number = mimo::JsonGrammar::schema(R"({"type": "number"})");
  CHECK(number.accepts("12"));
  CHECK(number.accepts("-0.5e+7"));
  CHECK_FALSE(number.accepts("12."));
  const mimo::JsonGrammar colours = mimo::JsonGrammar::schema(R"({"enum": ["red", "reddish", 1]})");
  CHECK(colours.accepts("\"red\""));
  CHECK(colours.accepts("\"reddish\""));
  CHECK(colours.accepts("1"));
  CHECK(colours.accepted_prefix("\"rex\"") == 3);
  CHECK(colours.accepted_prefix("12") == 1);
  const mimo::JsonGrammar any = mimo::JsonGrammar::schema("{}");
  for (const char* doc : {"1", "\"s\"", "[null]", "{\"a\": {}}", "true"}) CHECK(any.accepts(doc));
  const mimo::JsonGrammar array = mimo::JsonGrammar::schema(
      R"({"type": "array", "items": {"type": "array", "items": {"type": "integer"}}})");
  check_valid(array, "[[1, 2], [], [-3]]");
  CHECK(array.accepted_prefix("[[1], 2]") == 6);
}

TEST_CASE("json_schema: schemas outside the subset are refused naming the path", "[constraint]") {
  const auto has = [](const std::string& message, const std::string& part) {
    INFO(message);
    return message.find(part) != std::string::npos;
  };
  {
    const std::string m =
        schema_error(R"({"type": "object", "properties": {"name": {"type": "string",
             "minLength": 3}}})");
    CHECK(has(m, "#/properties/name"));
    CHECK(has(m, "'minLength'"));
  }
  {
    const std::string m = schema_error(R"({"type": "array", "items": {"$ref": "#"}})");
    CHECK(has(m, "#/items"));
    CHECK(has(m, "'$ref'"));
  }
  {
    const std::string m = schema_error(R"({"anyOf": [{"type": "string"}]})");
    CHECK(has(m, "at #:"));
    CHECK(has(m, "'anyOf'"));
  }
  CHECK(has(schema_error(R"({"type": "strin"})"), "#/type"));
  CHECK(has(schema_error(R"({"type": ["string", 5]})"), "#/type/1"));
  CHECK(has(schema_error(R"({"properties": {"a": {}}, "required": ["b"]})"), "#/required/0"));
  CHECK(has(schema_error(R"({"type": "object", "additionalProperties": {"type": "string"}})"),
            "#/additionalProperties"));
  CHECK(has(schema_error(R"({"type": "array", "items": [{}]})"), "#/items"));
  CHECK(has(schema_error(R"({"type": "string", "enum": ["a", 1]})"), "#/enum/1"));
  CHECK(has(schema_error(R"({"enum": []})"), "#/enum"));
  CHECK(has(schema_error(R"({"properties": {"a/b": {"const": 1, "enum": [1]}}})"),
            "#/properties/a~1b"));
  CHECK(has(schema_error(R"({"properties": {"q\"": {}}})"), "quotes"));
  CHECK(has(schema_error("false"), "admits no value"));
  CHECK(has(schema_error("[1"), "not JSON"));
  CHECK(has(schema_error(std::string(200, '[')), "deeper"));
  std::string deep = "{}";
  for (int i = 0; i < 70; ++i) deep = R"({"type": "array", "items": )" + deep + "}";
  CHECK(has(schema_error(deep), "deeper than 64"));
}
