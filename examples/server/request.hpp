// The body of POST /v1/chat/completions and POST /v1/completions, parsed and validated into
// what one generation needs. Every field the OpenAI API defines is either honoured or refused
// with a 400 naming it (docs/server.md lists them); nothing is silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mimo/chat_template.hpp"
#include "mimo/sampler.hpp"

namespace mimo::server {

enum class Endpoint { kChat, kCompletion };

// tool_choice: auto (the model decides), none (tools not rendered), required (some call), or one
// named function. required / named force the answer to open with a call block (docs/server.md).
enum class ToolChoice { kAuto, kNone, kRequired, kFunction };

// response_format: free text, or a JSON document generated under a constraint (docs/server.md).
enum class ResponseFormat { kText, kJsonObject, kJsonSchema };

struct ParseLimits {
  std::string model_name;   // the one model served; other names get 404 model_not_found
  std::int32_t vocab_size;  // logit_bias and token-id prompts are checked against it
  int max_json_depth = 64;
  std::size_t max_stop_strings = 16;
  int max_top_logprobs = 20;
};

struct GenerationRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;
  // Chat: the conversation and what the chat template needs besides it.
  std::vector<ChatMessage> messages;
  std::string tools_json;  // JSON array, empty without tools (or tool_choice none)
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_choice_name;           // kFunction: the function every answer must call
  std::string chat_template_kwargs_json;  // JSON object, empty: none
  ResponseFormat response_format = ResponseFormat::kText;
  // kJsonSchema: response_format.json_schema.schema as JSON text ("{}", any value, when absent);
  // compiled (and refused when outside the supported subset) by the generation.
  std::string json_schema;
  // Completions: the prompt as text, or as token ids when prompt_is_tokens.
  std::string prompt_text;
  std::vector<std::int32_t> prompt_tokens;
  bool prompt_is_tokens = false;
  bool echo = false;

  std::optional<int> max_tokens;  // unset: until the context is full
  SamplerConfig sampling;         // seed: drawn at random unless the request gives one
  bool seed_given = false;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool logprobs = false;
  int top_logprobs = 0;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Throws ApiError (400 for malformed JSON, wrong types, out-of-range or unsupported fields;
// 404 for another model).
GenerationRequest parse_request(Endpoint endpoint, const std::string& body,
                                const ParseLimits& limits);

}  // namespace mimo::server
