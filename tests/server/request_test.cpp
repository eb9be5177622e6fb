// Request parsing and validation of mimo-server (examples/server/request.hpp): every field
// honoured or refused with the right status, param and code.
#include "server/request.hpp"

#include "server/api_error.hpp"
#include "support/catch.hpp"

using mimo::server::ApiError;
using mimo::server::Endpoint;
using mimo::server::GenerationRequest;
using mimo::server::parse_request;

namespace {

const mimo::server::ParseLimits kLimits{"demo", 8192};

GenerationRequest chat(const std::string& body) {
  return parse_request(Endpoint::kChat, body, kLimits);
}

// The error a body gets: {status, param, code}.
struct Refusal {
  int status = 0;
  std::string param, code, message;
};
Refusal refusal(Endpoint endpoint, const std::string& body) {
  try {
    parse_request(endpoint, body, kLimits);
  } catch (const ApiError& e) {
    return {e.status, e.param.value_or(""), e.code.value_or(""), e.what()};
  }
  FAIL("accepted: " << body);
  return {};
}
Refusal chat_refusal(const std::string& body) {
  return refusal(Endpoint::kChat, body);
}

const std::string kHello = R"("model": "demo", "messages": [{"role": "user", "content": "hi"}])";

}  // namespace

TEST_CASE("request: a chat request with every supported field") {
  const GenerationRequest r = chat(R"({
    "model": "demo",
    "messages": [
      {"role": "developer", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Weather "}, {"type": "text", "text": "in Paris?"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "21C"}
    ],
    "max_completion_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
    "presence_penalty": 0.5, "frequency_penalty": -0.5, "repetition_penalty": 1.1, "seed": -3,
    "stop": ["\n\n", "END"], "logit_bias": {"17": -100, "42": 2.5}, "logprobs": true,
    "top_logprobs": 3, "n": 1, "stream": true, "stream_options": {"include_usage": true},
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "tool_choice": "auto", "parallel_tool_calls": true, "response_format": {"type": "text"},
    "user": "u1", "ignore_eos": false, "chat_template_kwargs": {"enable_thinking": false}
  })");
  REQUIRE(r.messages.size() == 4);
  CHECK(r.messages[0].role == "system");
  CHECK(r.messages[1].content == "Weather in Paris?");
  REQUIRE(r.messages[2].tool_calls.size() == 1);
  CHECK(r.messages[2].tool_calls[0].name == "get_weather");
  CHECK(r.messages[3].tool_call_id == "c1");
  CHECK(r.max_tokens == 7);
  CHECK(r.sampling.temperature == 0.5f);
  CHECK(r.sampling.top_k == 40);
  CHECK(r.sampling.min_p == 0.05f);
  CHECK(r.sampling.repetition_penalty == 1.1f);
  CHECK(r.seed_given);
  CHECK(r.sampling.seed == static_cast<std::uint64_t>(-3));
  CHECK(r.stop == std::vector<std::string>{"\n\n", "END"});
  REQUIRE(r.sampling.logit_bias.size() == 2);
  CHECK(r.sampling.logit_bias[0] == std::pair<std::int32_t, float>{17, -100.0f});
  CHECK(r.logprobs);
  CHECK(r.sampling.top_logprobs == 3);
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.tools_json.find("get_weather") != std::string::npos);
  CHECK(r.chat_template_kwargs_json == R"({"enable_thinking":false})");
}

TEST_CASE("request: OpenAI defaults") {
  const GenerationRequest r = chat("{" + kHello + "}");
  CHECK(r.sampling.temperature == 1.0f);
  CHECK(r.sampling.top_p == 1.0f);
  CHECK_FALSE(r.max_tokens);
  CHECK_FALSE(r.seed_given);
  CHECK_FALSE(r.stream);
  CHECK(r.tools_json.empty());
  // tool_choice none: the tools are not rendered.
  CHECK(
      chat(
          "{" + kHello +
          R"(, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"})")
          .tools_json.empty());
}

TEST_CASE("request: malformed bodies") {
  CHECK(chat_refusal("{").status == 400);
  CHECK(chat_refusal("").status == 400);
  CHECK(chat_refusal("[1, 2]").status == 400);
  CHECK(chat_refusal("{\"model\": \"demo\", \"messages\": [{\"role\": \"user\", \"content\": "
                     "\"\xff\"}]}")
            .status == 400);  // invalid UTF-8
  const Refusal deep = chat_refusal(std::string(100000, '[') + std::string(100000, ']'));
  CHECK(deep.status == 400);
  CHECK(deep.message.find("deeper than 64") != std::string::npos);
}

TEST_CASE("request: wrong types name the field") {
  auto r = chat_refusal("{" + kHello + R"(, "temperature": "hot"})");
  CHECK(r.status == 400);
  CHECK(r.param == "temperature");
  CHECK(r.code == "invalid_type");
  CHECK(chat_refusal("{" + kHello + R"(, "max_tokens": 1.5})").param == "max_tokens");
  CHECK(chat_refusal("{" + kHello + R"(, "stream": 1})").param == "stream");
  CHECK(chat_refusal("{" + kHello + R"(, "stop": [1]})").param == "stop");
  CHECK(chat_refusal(R"({"model": "demo", "messages": [{"role": "user", "content": 5}]})").param ==
        "messages[0].content");
  CHECK(chat_refusal(R"({"model": 7, "messages": []})").param == "model");
}

TEST_CASE("request: out-of-range values") {
  for (const char* field :
       {R"("temperature": 2.5)", R"("top_p": 0)", R"("top_p": 1.5)", R"("min_p": -0.1)",
        R"("presence_penalty": 3)", R"("max_tokens": 0)", R"("top_k": -2)",
        R"("repetition_penalty": 0)", R"("max_tokens": 99999999999)"}) {
    INFO(field);
    CHECK(chat_refusal("{" + kHello + ", " + field + "}").status == 400);
  }
  auto bias = chat_refusal("{" + kHello + R"(, "logit_bias": {"8192": 1}})");
  CHECK(bias.param == "logit_bias.8192");
  CHECK(chat_refusal("{" + kHello + R"(, "logit_bias": {"-1": 1}})").status == 400);
  CHECK(chat_refusal("{" + kHello + R"(, "logit_bias": {"5": 101}})").status == 400);
  CHECK(chat_refusal("{" + kHello + R"(, "top_logprobs": 21, "logprobs": true})").param ==
        "top_logprobs");
  CHECK(chat_refusal("{" + kHello + R"(, "top_logprobs": 2})").param == "top_logprobs");
  CHECK(chat_refusal("{" + kHello + R"(, "stop": ""})").param == "stop");
  CHECK(chat_refusal(
            "{" + kHello +
            R"(, "stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]})")
            .param == "stop");
  CHECK(chat_refusal("{" + kHello + R"(, "stream_options": {"include_usage": true}})").param ==
        "stream_options");
  CHECK(chat_refusal("{" + kHello + R"(, "max_tokens": 5, "max_completion_tokens": 6})").param ==
        "max_completion_tokens");
}

TEST_CASE("request: unsupported fields are refused, never ignored") {
  for (const char* field : {R"("n": 2)", R"("frobnicate": true)", R"("audio": {})",
                            R"("reasoning_effort": "low")", R"("modalities": ["text"])"}) {
    INFO(field);
    const Refusal r = chat_refusal("{" + kHello + ", " + field + "}");
    CHECK(r.status == 400);
    CHECK(r.code == "unsupported_parameter");
  }
  const Refusal image = chat_refusal(
      R"({"model": "demo", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})");
  CHECK(image.param == "messages[0].content[0].type");
  CHECK(image.code == "unsupported_parameter");
  CHECK(image.message.find("\"image_url\" is not supported") != std::string::npos);
  CHECK(chat_refusal(
            R"({"model": "demo", "messages": [{"role": "user", "content": "x", "extra": 1}]})")
            .param == "messages[0].extra");
}

TEST_CASE("request: model and messages") {
  const Refusal other = chat_refusal(R"({"model": "gpt-4", "messages": []})");
  CHECK(other.status == 404);
  CHECK(other.code == "model_not_found");
  CHECK(chat_refusal(R"({"messages": []})").code == "missing_required_parameter");
  CHECK(chat_refusal(R"({"model": "demo"})").param == "messages");
  CHECK(chat_refusal(R"({"model": "demo", "messages": []})").param == "messages");
  CHECK(chat_refusal(R"({"model": "demo", "messages": [{"role": "wizard", "content": "x"}]})")
            .param == "messages[0].role");
  CHECK(chat_refusal(R"({"model": "demo", "messages": [{"content": "x"}]})").param ==
        "messages[0].role");
  CHECK(
      chat_refusal(R"({"model": "demo", "messages": [{"role": "tool", "content": "x"}]})").param ==
      "messages[0].tool_call_id");
  CHECK(chat_refusal(R"({"model": "demo", "messages": [{"role": "user"}]})").param ==
        "messages[0].content");
}

TEST_CASE("request: completions") {
  auto completion = [](const std::string& body) {
    return parse_request(Endpoint::kCompletion, body, kLimits);
  };
  CHECK(completion(R"({"model": "demo", "prompt": "def f"})").prompt_text == "def f");
  CHECK(completion(R"({"model": "demo", "prompt": ["def g"]})").prompt_text == "def g");
  const GenerationRequest ids =
      completion(R"({"model": "demo", "prompt": [5, 6, 7], "logprobs": 2, "echo": false})");
  CHECK(ids.prompt_is_tokens);
  CHECK(ids.prompt_tokens == std::vector<std::int32_t>{5, 6, 7});
  CHECK(ids.logprobs);
  CHECK(ids.top_logprobs == 2);
  CHECK(completion(R"({"model": "demo", "prompt": "x", "echo": true})").echo);
  auto refused = [](const std::string& body) { return refusal(Endpoint::kCompletion, body); };
  CHECK(refused(R"({"model": "demo", "prompt": ["a", "b"]})").code == "unsupported_parameter");
  CHECK(refused(R"({"model": "demo", "prompt": [1, 8192]})").param == "prompt");
  CHECK(refused(R"({"model": "demo"})").param == "prompt");
  CHECK(refused(R"({"model": "demo", "prompt": "x", "suffix": "y"})").param == "suffix");
  CHECK(refused(R"({"model": "demo", "prompt": "x", "best_of": 2})").param == "best_of");
  CHECK(refused(R"({"model": "demo", "prompt": "x", "echo": true, "logprobs": 1})").param ==
        "echo");
  // Chat-only fields are unknown here, and the reverse.
  CHECK(refused(R"({"model": "demo", "prompt": "x", "messages": []})").param == "messages");
  CHECK(chat_refusal("{" + kHello + R"(, "prompt": "x"})").param == "prompt");
}

TEST_CASE("request: response_format text, json_object and json_schema") {
  using mimo::server::ResponseFormat;
  CHECK(chat("{" + kHello + R"(, "response_format": {"type": "text"}})").response_format ==
        ResponseFormat::kText);
  CHECK(chat("{" + kHello + R"(, "response_format": {"type": "json_object"}})").response_format ==
        ResponseFormat::kJsonObject);
  const GenerationRequest r = chat("{" + kHello + R"(, "response_format": {"type": "json_schema",
      "json_schema": {"name": "x", "description": "d", "strict": true,
                      "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}})");
  CHECK(r.response_format == ResponseFormat::kJsonSchema);
  CHECK(r.json_schema == R"({"properties":{"a":{"type":"string"}},"type":"object"})");
  CHECK(chat("{" + kHello + R"(, "response_format": {"type": "json_schema",
      "json_schema": {"name": "x"}}})")
            .json_schema == "{}");

  CHECK(chat_refusal("{" + kHello + R"(, "response_format": {}})").param == "response_format.type");
  const Refusal xml = chat_refusal("{" + kHello + R"(, "response_format": {"type": "xml"}})");
  CHECK(xml.param == "response_format.type");
  CHECK(xml.code == "unsupported_parameter");
  CHECK(chat_refusal("{" + kHello + R"(, "response_format": {"type": "json_schema"}})").param ==
        "response_format.json_schema");
  CHECK(chat_refusal("{" + kHello + R"(, "response_format": {"type": "json_schema",
      "json_schema": {"schema": {}}}})")
            .param == "response_format.json_schema.name");
  CHECK(chat_refusal("{" + kHello + R"(, "response_format": {"type": "json_schema",
      "json_schema": {"name": "x", "schema": {}, "extra": 1}}})")
            .param == "response_format.json_schema.extra");
  CHECK(chat_refusal("{" + kHello + R"(, "response_format": {"type": "json_schema",
      "json_schema": {"name": "x", "schema": []}}})")
            .param == "response_format.json_schema.schema");
  CHECK(chat_refusal("{" + kHello + R"(, "response_format": {"type": "json_object", "x": 1}})")
            .param == "response_format.x");
  // A forced tool call and a JSON document cannot both be the answer.
  const Refusal forced =
      chat_refusal("{" + kHello + R"(, "tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": "required", "response_format": {"type": "json_object"}})");
  CHECK(forced.param == "response_format");
  CHECK(forced.status == 400);
}

TEST_CASE("request: tool_choice required and named functions") {
  const std::string tools =
      R"(, "tools": [{"type": "function", "function": {"name": "get_weather"}}])";
  using mimo::server::ToolChoice;
  CHECK(chat("{" + kHello + tools + "}").tool_choice == ToolChoice::kAuto);
  CHECK(chat("{" + kHello + tools + R"(, "tool_choice": "required"})").tool_choice ==
        ToolChoice::kRequired);
  const GenerationRequest named =
      chat("{" + kHello + tools +
           R"(, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})");
  CHECK(named.tool_choice == ToolChoice::kFunction);
  CHECK(named.tool_choice_name == "get_weather");
  CHECK_FALSE(named.tools_json.empty());

  // A function that is not among the tools, no tools at all, unknown modes and shapes.
  const Refusal unknown =
      chat_refusal("{" + kHello + tools +
                   R"(, "tool_choice": {"type": "function", "function": {"name": "f"}}})");
  CHECK(unknown.param == "tool_choice.function.name");
  CHECK(unknown.message.find("'f'") != std::string::npos);
  CHECK(chat_refusal("{" + kHello + R"(, "tool_choice": "required"})").param == "tool_choice");
  CHECK(chat_refusal("{" + kHello + R"(, "tools": [], "tool_choice": "required"})").param ==
        "tool_choice");
  CHECK(chat_refusal("{" + kHello + tools + R"(, "tool_choice": "always"})").code ==
        "invalid_value");
  CHECK(chat_refusal("{" + kHello + tools + R"(, "tool_choice": 3})").code == "invalid_type");
  CHECK(chat_refusal("{" + kHello + tools + R"(, "tool_choice": {"type": "function"}})").param ==
        "tool_choice.function");
  CHECK(chat_refusal("{" + kHello + tools +
                     R"(, "tool_choice": {"type": "custom", "function": {"name": "f"}}})")
            .param == "tool_choice.type");
  CHECK(
      chat_refusal(
          "{" + kHello + tools +
          R"(, "tool_choice": {"type": "function", "function": {"name": "get_weather", "x": 1}}})")
          .param == "tool_choice.function.x");
}

TEST_CASE("request: message leftovers - name, null content, refusal, content parts") {
  const GenerationRequest r = chat(R"({"model": "demo", "messages": [
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}], "name": "policy"},
    {"role": "user", "content": "hi", "name": "ann"},
    {"role": "assistant", "content": null, "refusal": null, "tool_calls": [{"id": "c1",
      "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "name": "f", "content": [{"type": "text", "text": "ok"}]},
    {"role": "assistant", "content": null}
  ]})");
  REQUIRE(r.messages.size() == 5);
  CHECK(r.messages[0].content == "Be brief.");
  CHECK(r.messages[0].name == "policy");
  CHECK(r.messages[1].name == "ann");
  CHECK(r.messages[2].content.empty());
  CHECK_FALSE(r.messages[2].name);
  CHECK(r.messages[3].name == "f");
  CHECK(r.messages[3].content == "ok");
  CHECK(r.messages[4].content.empty());
  // A refusal text is not taken silently; null content only for assistant turns.
  CHECK(
      chat_refusal(
          R"({"model": "demo", "messages": [{"role": "assistant", "content": "", "refusal": "no"}]})")
          .param == "messages[0].refusal");
  CHECK(
      chat_refusal(R"({"model": "demo", "messages": [{"role": "user", "content": null}]})").param ==
      "messages[0].content");
  CHECK(chat_refusal(
            R"({"model": "demo", "messages": [{"role": "user", "content": "x", "name": 5}]})")
            .param == "messages[0].name");
}
