// ChatTemplate end to end on the Jinja conformance fixture (tests/jinja/conformance): the
// fixture's conversations go in as ChatMessage / ChatToolCall / tools_json, and every rendering
// must equal @huggingface/jinja's - so the public API passes messages, tools, tool calls,
// reasoning and special tokens exactly as transformers does.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mimo/chat_template.hpp"
#include "mimo/error.hpp"
#include "support/catch.hpp"
#include "support/utc_time.hpp"

namespace {

using nlohmann::ordered_json;

ordered_json read_fixture(const std::string& name) {
  std::ifstream file(std::string(MIMO_SOURCE_DIR) + "/tests/jinja/conformance/" + name,
                     std::ios::binary);
  REQUIRE(file);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return ordered_json::parse(buffer.str());
}

std::vector<mimo::ChatMessage> to_messages(const ordered_json& messages) {
  std::vector<mimo::ChatMessage> out;
  for (const auto& m : messages) {
    mimo::ChatMessage message{m["role"], m["content"], {}};
    if (m.contains("reasoning_content")) message.reasoning_content = m["reasoning_content"];
    if (m.contains("tool_call_id")) message.tool_call_id = m["tool_call_id"];
    if (m.contains("name")) message.name = m["name"];
    for (const auto& call : m.value("tool_calls", ordered_json::array())) {
      message.tool_calls.push_back(
          {call.value("id", ""), call["function"]["name"], call["function"]["arguments"].dump()});
    }
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace

TEST_CASE("ChatTemplate renders the conformance fixture as @huggingface/jinja does") {
  const ordered_json templates = read_fixture("templates.json");
  const ordered_json expected = read_fixture("expected.json");
  const ordered_json chats = read_fixture("conversations.json");
  // Renderings the reference cannot do (it lacks select / reject): Python jinja2's text.
  const ordered_json extensions = read_fixture("extensions.json");
  const auto key = [](const ordered_json& r) {
    return r["template"].get<std::string>() + "/" + r["conversation"].get<std::string>() + "/" +
           r["add_generation_prompt"].dump() + "/" + r["enable_thinking"].dump();
  };
  std::map<std::string, std::string> python_renders;
  for (const auto& r : extensions["rendered"]) python_renders[key(r)] = r["text"];
  // The fixture's clock, for the templates that print strftime_now().
  const std::int64_t now = mimo::testing::parse_utc(chats["now"]);
  mimo::ChatSpecialTokens tokens;
  tokens.bos_token = chats["special_tokens"]["bos_token"];
  tokens.eos_token = chats["special_tokens"]["eos_token"];
  std::map<std::string, mimo::ChatTemplate> compiled;
  for (const auto& t : templates["templates"]) {
    compiled.emplace(t["name"].get<std::string>(),
                     mimo::ChatTemplate::from_source(t["template"], t["name"], tokens));
  }
  std::map<std::string, ordered_json> conversations;
  for (const auto& c : chats["conversations"]) conversations[c["name"]] = c;

  int mismatches = 0, checked = 0;
  std::string report;
  for (const auto& r : expected["rendered"]) {
    const ordered_json& conversation = conversations.at(r["conversation"]);
    mimo::ChatTemplateOptions options;
    options.add_generation_prompt = r["add_generation_prompt"];
    options.now = now;
    if (!r["enable_thinking"].is_null()) options.enable_thinking = r["enable_thinking"];
    if (conversation.value("tools", false)) options.tools_json = chats["tools"].dump();
    options.extra_context_json = ordered_json{{"date_string", chats["date_string"]}}.dump();
    const std::string label = r["template"].get<std::string>() + " / " +
                              r["conversation"].get<std::string>() +
                              (options.add_generation_prompt ? " +prompt" : "") +
                              " thinking=" + r["enable_thinking"].dump();
    ++checked;
    try {
      const std::string got =
          compiled.at(r["template"]).render(to_messages(conversation["messages"]), options);
      const auto python = python_renders.find(key(r));
      const bool same = python != python_renders.end()
                            ? got == python->second
                            : !r.contains("error") && got == r["text"].get<std::string>();
      if (!same) {
        ++mismatches;
        report += label + ": " + ordered_json(got).dump() + "\n";
      }
    } catch (const mimo::Error& e) {
      if (!r.contains("error")) {
        ++mismatches;
        report += label + ": threw " + e.what() + "\n";
      }
    }
  }
  INFO(report);
  CHECK(checked > 1000);
  CHECK(mismatches == 0);
}
