// Tool-call formats and the streaming extractor of mimo-server (examples/server/tool_calls.hpp).
#include "server/tool_calls.hpp"

#include <nlohmann/json.hpp>

#include "support/catch.hpp"

using namespace mimo::server;

namespace {

struct Collected {
  std::string content;
  std::vector<ParsedToolCall> calls;
};

// Feeds `text` in pieces of `piece` bytes.
Collected extract(ToolCallFormat format, const std::string& text, std::size_t piece) {
  ToolCallExtractor extractor(format);
  Collected out;
  auto take = [&](std::vector<ExtractedPiece> pieces) {
    for (auto& p : pieces) {
      out.content += p.content;
      if (p.call) out.calls.push_back(*p.call);
    }
  };
  for (std::size_t i = 0; i < text.size(); i += piece) take(extractor.push(text.substr(i, piece)));
  take(extractor.finish());
  return out;
}

}  // namespace

TEST_CASE("tool calls: the format comes from the template text") {
  CHECK(detect_tool_call_format("{% for m in messages %}{{ m.content }}{% endfor %}") ==
        ToolCallFormat::kNone);
  CHECK(detect_tool_call_format("{% if tools %}<tool_call>{{ tools | tojson }}{% endif %}") ==
        ToolCallFormat::kHermes);
  CHECK(detect_tool_call_format("{% if tools %}<tool_call>\n<function=...{% endif %}") ==
        ToolCallFormat::kXml);
}

TEST_CASE("tool calls: hermes blocks, streamed in any piece size") {
  const std::string text =
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n"
      "</tool_call>";
  for (std::size_t piece : {1, 2, 3, 7, 1000}) {
    INFO("piece " << piece);
    const Collected c = extract(ToolCallFormat::kHermes, text, piece);
    CHECK(c.content == "Let me check.\n\n");
    REQUIRE(c.calls.size() == 2);
    CHECK(c.calls[0].name == "get_weather");
    CHECK(nlohmann::json::parse(c.calls[0].arguments_json) == nlohmann::json{{"city", "Paris"}});
    CHECK(c.calls[1].name == "now");
    CHECK(c.calls[1].arguments_json == "{}");
  }
}

TEST_CASE("tool calls: text that only looks like a block stays content") {
  // A partial marker is held back only until it cannot be one any more.
  ToolCallExtractor extractor(ToolCallFormat::kHermes);
  auto first = extractor.push("a <tool_");
  REQUIRE(first.size() == 1);
  CHECK(first[0].content == "a ");
  auto second = extractor.push("x> b");
  REQUIRE(second.size() == 1);
  CHECK(second[0].content == "<tool_x> b");
  // A block that is not a call, and an unterminated one, come back verbatim.
  const std::string bad = "<tool_call>not json</tool_call> then <tool_call>{\"name\": \"f\"";
  const Collected c = extract(ToolCallFormat::kHermes, bad, 4);
  CHECK(c.calls.empty());
  CHECK(c.content == bad);
  // Without tools nothing is held back.
  CHECK(
      extract(ToolCallFormat::kNone, "<tool_call>{\"name\": \"f\"}</tool_call>", 3).calls.empty());
}

TEST_CASE("tool calls: xml blocks (Qwen3-Coder style)") {
  const std::string text =
      "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
      "<parameter=days>\n3\n</parameter>\n<parameter=opts>\n{\"unit\": \"C\"}\n</parameter>\n"
      "</function>\n</tool_call>";
  const Collected c = extract(ToolCallFormat::kXml, text, 5);
  REQUIRE(c.calls.size() == 1);
  CHECK(c.calls[0].name == "get_weather");
  CHECK(nlohmann::json::parse(c.calls[0].arguments_json) ==
        nlohmann::json{{"city", "Paris"}, {"days", 3}, {"opts", {{"unit", "C"}}}});
  CHECK_FALSE(parse_tool_call_block(ToolCallFormat::kXml, "<function=>\n</function>"));
  // Invalid UTF-8 in a value (found by fuzz_server_request) is replaced, not thrown on.
  const auto bad = parse_tool_call_block(ToolCallFormat::kXml,
                                         "<function=f><parameter=p>\xff</parameter></function>");
  REQUIRE(bad);
  CHECK(nlohmann::json::parse(bad->arguments_json)["p"] == "\xEF\xBF\xBD");
  CHECK_FALSE(parse_tool_call_block(ToolCallFormat::kHermes, "{\"arguments\": {}}"));
  CHECK(parse_tool_call_block(ToolCallFormat::kHermes,
                              "{\"name\": \"f\", \"parameters\": {\"a\": 1}}")
            ->arguments_json == "{\"a\":1}");
}

TEST_CASE("tool calls: a forced call prefix and the model's continuation make one call") {
  CHECK(forced_call_prefix(ToolCallFormat::kHermes, "") == "<tool_call>\n{\"name\": \"");
  CHECK(forced_call_prefix(ToolCallFormat::kHermes, "get_weather") ==
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": ");
  CHECK(forced_call_prefix(ToolCallFormat::kHermes, "a\"b") ==
        "<tool_call>\n{\"name\": \"a\\\"b\", \"arguments\": ");
  CHECK(forced_call_prefix(ToolCallFormat::kXml, "") == "<tool_call>\n<function=");
  CHECK(forced_call_prefix(ToolCallFormat::kXml, "f") == "<tool_call>\n<function=f>\n");
  CHECK(forced_call_prefix(ToolCallFormat::kNone, "f").empty());

  const Collected hermes = extract(ToolCallFormat::kHermes,
                                   forced_call_prefix(ToolCallFormat::kHermes, "get_weather") +
                                       "{\"city\": \"Paris\"}}\n</tool_call>",
                                   3);
  REQUIRE(hermes.calls.size() == 1);
  CHECK(hermes.calls[0].name == "get_weather");
  CHECK(nlohmann::json::parse(hermes.calls[0].arguments_json) == nlohmann::json{{"city", "Paris"}});
  CHECK(hermes.content.empty());
  const Collected any = extract(
      ToolCallFormat::kHermes,
      forced_call_prefix(ToolCallFormat::kHermes, "") + "f\", \"arguments\": {}}\n</tool_call>", 5);
  REQUIRE(any.calls.size() == 1);
  CHECK(any.calls[0].name == "f");
  const Collected xml = extract(ToolCallFormat::kXml,
                                forced_call_prefix(ToolCallFormat::kXml, "f") +
                                    "<parameter=x>\n1\n</parameter>\n</function>\n</tool_call>",
                                4);
  REQUIRE(xml.calls.size() == 1);
  CHECK(xml.calls[0].name == "f");
  CHECK(xml.calls[0].arguments_json == "{\"x\":1}");
}
