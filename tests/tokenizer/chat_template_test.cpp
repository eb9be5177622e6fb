// ChatTemplate: templates are run, not recognized - roles, tools, tool calls and reasoning reach
// the template as transformers passes them, and failures name the template line.
#include "mimo/chat_template.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "mimo/error.hpp"
#include "support/catch.hpp"
#include "support/error_message.hpp"
#include "tiny_tokenizer.hpp"

using mimo::ChatMessage;
using mimo::ChatTemplate;

namespace {

std::string error_of(const std::function<void()>& fn, mimo::ErrorCode expected_code) {
  return mimo::testing::error_message(fn, expected_code);
}

// The tiny fixture's tokenizer with its tokenizer_config.json chat_template replaced.
mimo::Tokenizer with_template(const std::string& chat_template) {
  namespace fs = std::filesystem;
  const fs::path config =
      fs::temp_directory_path() / ("mimo_cfg_" + std::to_string(std::random_device{}()) + ".json");
  std::ifstream in(mimo::test::tiny_tokenizer_dir() + "/tokenizer_config.json");
  nlohmann::json root = nlohmann::json::parse(in);
  root["chat_template"] = chat_template;
  std::ofstream(config) << root.dump();
  mimo::Tokenizer tok = mimo::Tokenizer::from_file(
      mimo::test::tiny_tokenizer_dir() + "/tokenizer.json", config.string());
  fs::remove(config);
  return tok;
}

}  // namespace

TEST_CASE("the config's special tokens reach the template, and a broken one fails on use") {
  // The fixture config: bos_token null, eos_token "<|im_end|>", pad_token "<|endoftext|>".
  const mimo::Tokenizer tok = with_template(
      "{{ bos_token is defined }}|{{ eos_token }}|{{ pad_token }}|{{ unk_token is defined }}");
  CHECK(tok.apply_chat_template({{"user", "x", {}}}) == "false|<|im_end|>|<|endoftext|>|false");
  const mimo::Tokenizer broken = with_template("{% for m in messages %}{{ m.content }");
  CHECK(broken.has_chat_template() == false);
  const std::string what = error_of([&] { broken.chat_template(); }, mimo::ErrorCode::kUnsupported);
  CHECK(what.find("chat_template:1:") != std::string::npos);
}

TEST_CASE("the fixture's ChatML template renders turns and the generation prompt") {
  const mimo::Tokenizer& tok = mimo::test::tiny_tokenizer();
  const std::vector<ChatMessage> chat = {{"system", "Be brief.", {}}, {"user", "Hi", {}}};
  CHECK(tok.apply_chat_template(chat) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n");
  mimo::ChatTemplateOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  CHECK(tok.apply_chat_template(chat, no_prompt) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  const auto ids = tok.encode(tok.apply_chat_template(chat));
  CHECK(ids.front() == *tok.token_to_id("<|im_start|>"));
}

TEST_CASE("chatml() writes its default system prompt unless the conversation has one") {
  const ChatTemplate chat = ChatTemplate::chatml("You are MiMo.");
  CHECK(chat.render({{"user", "x", {}}}, {false, {}}) ==
        "<|im_start|>system\nYou are MiMo.<|im_end|>\n<|im_start|>user\nx<|im_end|>\n");
  CHECK(chat.render({{"system", "S", {}}, {"user", "x", {}}}, {false, {}}) ==
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nx<|im_end|>\n");
  CHECK_THROWS_AS(ChatTemplate::chatml().render({}), mimo::Error);
}

TEST_CASE("a template with ChatML markers that renders differently is rendered as written") {
  // Renamed roles and a filter on the content: the old recognizer rendered this as plain ChatML.
  const ChatTemplate chat = ChatTemplate::from_source(
      "{% for m in messages %}<|im_start|>{{ 'human' if m.role == 'user' else m.role }}\n"
      "{{ m.content | upper | trim }}<|im_end|>\n{% endfor %}",
      "test");
  CHECK(chat.render({{"user", " hi ", {}}, {"assistant", "yo", {}}}) ==
        "<|im_start|>human\nHI<|im_end|>\n<|im_start|>assistant\nYO<|im_end|>\n");
}

TEST_CASE("tools, tool calls, tool results and special tokens reach the template") {
  const ChatTemplate chat = ChatTemplate::from_source(
      "{{ bos_token }}{% if tools %}{{ tools | map(attribute='function') | map(attribute='name') "
      "| join(',') }};{% endif %}"
      "{% for m in messages %}{{ m.role }}:"
      "{% for c in m.tool_calls or [] %}{{ c.id }}={{ c.function.name }}{{ c.function.arguments | "
      "tojson }}/{{ c.function.arguments.city }}{% endfor %}"
      "{% if m.tool_call_id is defined %}[{{ m.tool_call_id }} {{ m.name }}]{% endif %}"
      "{{ m.reasoning_content if m.reasoning_content is defined }}{{ m.content }};"
      "{% endfor %}{{ eos_token }}",
      "test", {"<s>", "</s>", "", ""});
  ChatMessage call{"assistant", "", {}};
  call.tool_calls.push_back({"c1", "weather", R"({"city": "Paris"})"});
  call.reasoning_content = "think";
  ChatMessage result{"tool", "21C", {}};
  result.tool_call_id = "c1";
  result.name = "weather";
  mimo::ChatTemplateOptions options;
  options.tools_json = R"([{"type": "function", "function": {"name": "weather"}}])";
  CHECK(chat.render({{"user", "hi", {}}, call, result}, options) ==
        "<s>weather;user:hi;assistant:c1=weather{\"city\": \"Paris\"}/Paristhink;"
        "tool:[c1 weather]21C;</s>");
  // Arguments that are not a JSON object reach the template as text; an empty id is left out.
  const ChatTemplate calls = ChatTemplate::from_source(
      "{% for c in messages[0].tool_calls %}{{ c.id is defined }} {{ c.function.arguments is "
      "string }} {{ c.function.arguments }}{% endfor %}",
      "test");
  ChatMessage raw{"assistant", "", {}};
  raw.tool_calls.push_back({"", "f", "not json"});
  CHECK(calls.render({raw}) == "false true not json");
  mimo::ChatTemplateOptions bad;
  bad.tools_json = "{not json";
  error_of([&] { chat.render({{"user", "hi", {}}}, bad); }, mimo::ErrorCode::kInvalidArgument);
}

TEST_CASE("enable_thinking and extra context variables are passed through") {
  const ChatTemplate chat = ChatTemplate::from_source(
      "{{ enable_thinking is defined }} {{ enable_thinking }} {{ reasoning_effort | default('-') "
      "}}",
      "test");
  CHECK(chat.render({{"user", "x", {}}}) == "false  -");
  mimo::ChatTemplateOptions options;
  options.enable_thinking = false;
  options.extra_context_json = R"({"reasoning_effort": "high"})";
  CHECK(chat.render({{"user", "x", {}}}, options) == "true false high");
}

TEST_CASE("options.now fixes the clock strftime_now() reads") {
  const ChatTemplate chat =
      ChatTemplate::from_source("{{ strftime_now('%B %Y') }}: {{ messages[0].content }}", "test");
  mimo::ChatTemplateOptions options;
  options.now = 1625140800;  // 2021-07-01 12:00 UTC: July 2021 in every time zone
  CHECK(chat.render({{"user", "x", {}}}, options) == "July 2021: x");
  CHECK(chat.render({{"user", "x", {}}}) != "July 2021: x");
}

TEST_CASE("the template's raise_exception refuses a conversation, naming the template line") {
  const ChatTemplate chat = ChatTemplate::from_source(
      "{%- for m in messages %}\n"
      "{%- if m.role not in ['user', 'assistant'] %}\n"
      "{{- raise_exception('unknown role ' + m.role) }}\n"
      "{%- endif %}{{ m.content }}{% endfor %}",
      "model/tokenizer_config.json chat_template");
  CHECK(chat.render({{"user", "ok", {}}}) == "ok");
  const std::string what = error_of(
      [&] {
        chat.render({{"narrator", "q", {}}});
      },
      mimo::ErrorCode::kInvalidArgument);
  CHECK(what.find("model/tokenizer_config.json chat_template:3:5") != std::string::npos);
  CHECK(what.find("unknown role narrator") != std::string::npos);
}

TEST_CASE("a template that does not parse is refused with its line and column") {
  const std::string what = error_of(
      [] { ChatTemplate::from_source("Hello\n{% for m in messages %}{{ m.content }}", "cfg"); },
      mimo::ErrorCode::kUnsupported);
  CHECK(what.find("cfg:") == 0);
  CHECK(what.find("endfor") != std::string::npos);
  const std::string unsupported =
      error_of([] { ChatTemplate::from_source("line one\n  {% include 'x.jinja' %}", "cfg"); },
               mimo::ErrorCode::kUnsupported);
  INFO(unsupported);
  CHECK(unsupported.find("cfg:2:6") != std::string::npos);
  CHECK(unsupported.find("include") != std::string::npos);
}

TEST_CASE("JSON nested past the bound is refused, not a stack overflow") {
  const ChatTemplate chatml = ChatTemplate::chatml();
  const std::vector<ChatMessage> user = {{"user", "hi"}};
  const std::string deep_array = std::string(200000, '[') + std::string(200000, ']');
  mimo::ChatTemplateOptions options;
  options.tools_json = deep_array;
  CHECK(error_of([&] { chatml.render(user, options); }, mimo::ErrorCode::kOutOfRange)
            .find("tools_json nests deeper than") != std::string::npos);
  options = {};
  options.extra_context_json = "{\"x\": " + deep_array + "}";
  CHECK(error_of([&] { chatml.render(user, options); }, mimo::ErrorCode::kOutOfRange)
            .find("extra_context_json nests deeper than") != std::string::npos);
  std::string deep_object;
  for (int i = 0; i < 200000; ++i) deep_object += "{\"a\":";
  deep_object += "1" + std::string(200000, '}');
  ChatMessage call{"assistant", ""};
  call.tool_calls = {{"call_1", "lookup", deep_object}};
  CHECK(error_of(
            [&] {
              chatml.render({{"user", "hi"}, call});
            },
            mimo::ErrorCode::kOutOfRange)
            .find("tool call 'lookup' nests deeper than") != std::string::npos);
  // Within the bound: still a mapping for the template.
  std::string nested = "{\"a\":{\"b\":[1,[2,[3]]]}}";
  call.tool_calls = {{"call_1", "lookup", nested}};
  const ChatTemplate args = ChatTemplate::from_source(
      "{{ messages[1].tool_calls[0].function.arguments.a.b | tojson }}", "args");
  CHECK(args.render({{"user", "hi"}, call}) == "[1, [2, [3]]]");
}
