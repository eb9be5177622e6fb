// OpenAI response shapes, SSE framing and the API-key comparison of mimo-server.
#include "server/responses.hpp"

#include "server/api_error.hpp"
#include "server/api_key.hpp"
#include "support/catch.hpp"

using namespace mimo::server;
using nlohmann::json;

TEST_CASE("responses: SSE framing and error bodies") {
  CHECK(sse_event(json{{"a", 1}}) == "data: {\"a\":1}\n\n");
  CHECK(sse_done() == "data: [DONE]\n\n");
  CHECK(dump(json("\xff")) == "\"\xEF\xBF\xBD\"");  // never throws on bad UTF-8
  const json error = invalid_request("bad", "temperature", "invalid_type").to_json();
  CHECK(error == json::parse(R"({"error": {"message": "bad", "type": "invalid_request_error",
                                           "param": "temperature", "code": "invalid_type"}})"));
  CHECK(ApiError(500, "x", "server_error", std::nullopt, std::nullopt)
            .to_json()["error"]["param"]
            .is_null());
}

TEST_CASE("responses: chat chunks as OpenAI streams them") {
  GenerationRequest request;
  request.endpoint = Endpoint::kChat;
  request.logprobs = true;
  request.include_usage = true;
  ChunkWriter chunks({"chatcmpl-1", 7, "demo"}, request);
  const json role = chunks.role_chunk();
  CHECK(role["object"] == "chat.completion.chunk");
  CHECK(role["choices"][0]["delta"] == json{{"role", "assistant"}, {"content", ""}});
  CHECK(role["usage"].is_null());
  CHECK_FALSE(chunks.delta_chunk(GenerationDelta{}));
  GenerationDelta delta;
  delta.content = "hé";
  delta.logprobs.push_back({{"hé", "h\xC3\xA9", -0.5f}, {{"hé", "h\xC3\xA9", -0.5f}}});
  delta.tool_calls.push_back({0, "call_1", {"f", "{\"a\":1}"}});
  const json chunk = *chunks.delta_chunk(delta);
  CHECK(chunk["choices"][0]["delta"]["content"] == "hé");
  CHECK(chunk["choices"][0]["delta"]["tool_calls"][0] ==
        json::parse(R"({"index": 0, "id": "call_1", "type": "function",
                        "function": {"name": "f", "arguments": "{\"a\":1}"}})"));
  const json& lp = chunk["choices"][0]["logprobs"]["content"][0];
  CHECK(lp["bytes"] == json::array({104, 195, 169}));
  CHECK(lp["top_logprobs"].size() == 1);
  CHECK(chunks.finish_chunk("stop")["choices"][0]["finish_reason"] == "stop");
  GenerationOutcome outcome;
  outcome.prompt_tokens = 5;
  outcome.completion_tokens = 3;
  const json usage = chunks.usage_chunk(outcome);
  CHECK(usage["choices"].empty());
  CHECK(usage["usage"] == json{{"prompt_tokens", 5},
                               {"completion_tokens", 3},
                               {"total_tokens", 8},
                               {"prompt_tokens_details", {{"cached_tokens", 0}}}});
}

TEST_CASE("responses: whole answers, tool calls, speculation usage, completion logprobs") {
  GenerationRequest request;
  CollectedAnswer answer;
  answer.tool_calls.push_back({0, "call_9", {"now", "{}"}});
  GenerationOutcome outcome;
  outcome.finish_reason = "tool_calls";
  outcome.speculative = true;
  outcome.speculation.drafted_tokens = 10;
  outcome.speculation.accepted_tokens = 4;
  outcome.speculation.steps = 3;
  outcome.speculation.emitted_tokens = 7;
  const json chat = chat_response({"chatcmpl-2", 1, "demo"}, request, answer, outcome);
  CHECK(chat["object"] == "chat.completion");
  CHECK(chat["choices"][0]["message"]["content"].is_null());
  CHECK(chat["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "now");
  CHECK_FALSE(chat["choices"][0]["message"]["tool_calls"][0].contains("index"));
  CHECK(chat["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(chat["usage"]["speculation"]["acceptance_rate"] == 0.4);
  CHECK(chat["usage"]["speculation"]["verify_steps"] == 3);

  request.endpoint = Endpoint::kCompletion;
  request.logprobs = true;
  request.top_logprobs = 1;
  CollectedAnswer text;
  text.content = "ab";
  text.logprobs = {{{"a", "a", -1}, {{"a", "a", -1}}}, {{"b", "b", -2}, {{"b", "b", -2}}}};
  outcome.speculative = false;
  outcome.finish_reason = "length";
  const json completion = completion_response({"cmpl-3", 1, "demo"}, request, text, outcome);
  CHECK(completion["object"] == "text_completion");
  CHECK(completion["choices"][0]["text"] == "ab");
  CHECK(completion["choices"][0]["logprobs"]["tokens"] == json::array({"a", "b"}));
  CHECK(completion["choices"][0]["logprobs"]["text_offset"] == json::array({0, 1}));
  CHECK(completion["choices"][0]["logprobs"]["top_logprobs"][1] == json{{"b", -2.0}});
  CHECK_FALSE(completion["usage"].contains("speculation"));
}

TEST_CASE("api key: constant-time comparison is still a comparison") {
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("secret", "secret2"));
  CHECK_FALSE(constant_time_equal("", "x"));
  CHECK(constant_time_equal("", ""));
}
