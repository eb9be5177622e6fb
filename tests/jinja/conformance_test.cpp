// The Jinja engine against @huggingface/jinja: every rendering in conformance/expected.json
// (real chat templates of many model families over conversations.json, written by
// conformance/render.mjs) must come out byte for byte the same, and where the reference threw
// (a template's raise_exception, a type error) mimo must throw a mimo::Error too.
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "jinja/template.hpp"
#include "mimo/error.hpp"
#include "support/catch.hpp"
#include "support/utc_time.hpp"

namespace {

using nlohmann::ordered_json;

ordered_json read_fixture(const std::string& name) {
  const std::string dir = std::getenv("MIMO_JINJA_FIXTURE_DIR")
                              ? std::getenv("MIMO_JINJA_FIXTURE_DIR")
                              : std::string(MIMO_SOURCE_DIR) + "/tests/jinja/conformance";
  std::ifstream file(dir + "/" + name, std::ios::binary);
  REQUIRE(file);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return ordered_json::parse(buffer.str());
}

}  // namespace

TEST_CASE("real chat templates render byte-identically to @huggingface/jinja") {
  const ordered_json templates = read_fixture("templates.json");
  const ordered_json expected = read_fixture("expected.json");
  const ordered_json chats = read_fixture("conversations.json");
  // Where the reference lacks a filter mimo takes from Python Jinja (select / reject), mimo must
  // render what Python's jinja2 renders in transformers' environment (extensions.py).
  std::map<std::string, std::string> python_renders;
  const auto key = [](const ordered_json& r) {
    return r["template"].get<std::string>() + "/" + r["conversation"].get<std::string>() + "/" +
           r["add_generation_prompt"].dump() + "/" + r["enable_thinking"].dump();
  };
  const ordered_json extensions_fixture = read_fixture("extensions.json");
  for (const auto& r : extensions_fixture["rendered"]) python_renders[key(r)] = r["text"];
  std::map<std::string, mimo::jinja::Template> compiled;
  for (const auto& t : templates["templates"]) {
    compiled.emplace(t["name"].get<std::string>(),
                     mimo::jinja::Template(t["template"].get<std::string>(), t["name"]));
  }
  std::map<std::string, ordered_json> conversations;
  for (const auto& c : chats["conversations"]) conversations[c["name"]] = c;

  const std::int64_t now = mimo::testing::parse_utc(chats["now"]);
  int mismatches = 0, checked = 0, extensions = 0;
  std::string report;  // every mismatch, shown when the check fails
  for (const auto& r : expected["rendered"]) {
    const ordered_json& conversation = conversations.at(r["conversation"]);
    ordered_json context = {
        {"messages", conversation["messages"]},
        {"tools", conversation.value("tools", false) ? chats["tools"] : ordered_json()},
        {"documents", nullptr},
        {"add_generation_prompt", r["add_generation_prompt"]},
        {"date_string", chats["date_string"]}};
    for (const auto& [key, value] : chats["special_tokens"].items()) context[key] = value;
    if (!r["enable_thinking"].is_null()) context["enable_thinking"] = r["enable_thinking"];
    const std::string label =
        fmt::format("{} / {} (generation prompt {}, enable_thinking {})",
                    r["template"].get<std::string>(), r["conversation"].get<std::string>(),
                    r["add_generation_prompt"].dump(), r["enable_thinking"].dump());
    ++checked;
    try {
      const std::string got = compiled.at(r["template"]).render(context, now);
      const auto python = python_renders.find(key(r));
      if (python != python_renders.end()) {
        ++extensions;
        if (got != python->second) {
          ++mismatches;
          report += label + ":\n mimo   " + ordered_json(got).dump() + "\n jinja2 " +
                    ordered_json(python->second).dump() + "\n";
        }
      } else if (r.contains("error")) {
        ++mismatches;
        report += label + ": jinja threw " + r["error"].dump() + " but mimo rendered\n";
      } else if (got != r["text"].get<std::string>()) {
        ++mismatches;
        report +=
            label + ":\n mimo  " + ordered_json(got).dump() + "\n jinja " + r["text"].dump() + "\n";
      }
    } catch (const mimo::Error& e) {
      if (!r.contains("error")) {
        ++mismatches;
        report += label + ": mimo threw " + e.what() + "\n";
      }
    }
  }
  CHECK(checked == static_cast<int>(expected["rendered"].size()));
  CHECK(extensions == static_cast<int>(python_renders.size()));
  INFO(report);
  CHECK(mismatches == 0);
}
