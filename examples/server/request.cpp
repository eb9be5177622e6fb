// Parsing and validation of the OpenAI request bodies (request.hpp).
#include "server/request.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "server/api_error.hpp"
#include "server/json_reader.hpp"

namespace mimo::server {

namespace {

using nlohmann::json;

// A message's content: a string, null, or an array of {"type": "text", "text": ...} parts.
std::string read_content(Reader& r, const std::string& role) {
  const json* v = r.get("content");
  if (!v) {
    if (role == "assistant") return {};
    throw invalid_request(fmt::format("'{}' is required for {} messages", r.path("content"), role),
                          r.path("content"), "missing_required_parameter");
  }
  if (v->is_string()) return v->get<std::string>();
  if (!v->is_array()) throw r.wrong_type("content", "a string or an array of parts", *v);
  std::string text;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& part = (*v)[i];
    const std::string where = fmt::format("{}[{}]", r.path("content"), i);
    if (!part.is_object()) {
      throw invalid_request(fmt::format("'{}' must be an object", where), where, "invalid_type");
    }
    Reader p(part, where + ".");
    const auto type = p.string("type");
    if (type != "text") {
      throw unsupported(where + ".type",
                        fmt::format("\"{}\" is not supported: the served model reads text only, "
                                    "so content parts must be {{\"type\": \"text\"}}",
                                    type.value_or("")));
    }
    const auto part_text = p.string("text");
    if (!part_text) {
      throw invalid_request(fmt::format("'{}.text' is required", where), where + ".text",
                            "missing_required_parameter");
    }
    p.reject_unknown();
    text += *part_text;
  }
  return text;
}

// The required 'function' object of a tool or tool call at `at`.
const json& function_of(Reader& item, const std::string& at) {
  const json* fn = item.object("function");
  if (!fn) {
    throw invalid_request(fmt::format("'{}.function' is required", at), at + ".function",
                          "missing_required_parameter");
  }
  return *fn;
}

// Its required, non-empty name.
std::string function_name(Reader& function, const std::string& at) {
  const auto name = function.string("name");
  if (!name || name->empty()) {
    throw invalid_request(fmt::format("'{}.function.name' is required", at), at + ".function.name",
                          "missing_required_parameter");
  }
  return *name;
}

std::vector<ChatToolCall> read_tool_calls(const json& calls, const std::string& where) {
  std::vector<ChatToolCall> out;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", where, i);
    require_object(calls[i], at);
    Reader c(calls[i], at + ".");
    ChatToolCall call;
    call.id = c.string("id").value_or("");
    if (c.string("type").value_or("function") != "function") {
      throw unsupported(at + ".type", "must be 'function'");
    }
    Reader f(function_of(c, at), at + ".function.");
    call.name = function_name(f, at);
    call.arguments_json = f.string("arguments").value_or("{}");
    f.reject_unknown();
    c.reject_unknown();
    out.push_back(std::move(call));
  }
  return out;
}

std::vector<ChatMessage> read_messages(Reader& body) {
  const json* messages = body.array("messages");
  if (!messages) {
    throw invalid_request("'messages' is required", "messages", "missing_required_parameter");
  }
  if (messages->empty()) {
    throw invalid_request("'messages' must contain at least one message", "messages",
                          "invalid_value");
  }
  std::vector<ChatMessage> out;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const std::string at = fmt::format("messages[{}]", i);
    if (!(*messages)[i].is_object()) {
      throw invalid_request(fmt::format("'{}' must be an object", at), at, "invalid_type");
    }
    Reader m((*messages)[i], at + ".");
    ChatMessage msg;
    const auto role = m.string("role");
    if (!role) {
      throw invalid_request(fmt::format("'{}.role' is required", at), at + ".role",
                            "missing_required_parameter");
    }
    static const std::set<std::string> kRoles = {"system", "developer", "user", "assistant",
                                                 "tool"};
    if (!kRoles.count(*role)) {
      throw invalid_request(fmt::format("'{}.role' must be one of system, developer, user, "
                                        "assistant, tool; got '{}'",
                                        at, *role),
                            at + ".role", "invalid_value");
    }
    // developer is the newer name of system (OpenAI); templates know system.
    msg.role = *role == "developer" ? "system" : *role;
    msg.content = read_content(m, msg.role);
    if (msg.role == "assistant") {
      if (const json* calls = m.array("tool_calls")) {
        msg.tool_calls = read_tool_calls(*calls, at + ".tool_calls");
      }
      msg.reasoning_content = m.string("reasoning_content");
      // Our own answers carry "refusal": null, and clients send them back as they are.
      if (m.string("refusal")) {
        throw unsupported(at + ".refusal",
                          "is not supported: give the assistant's text as 'content'");
      }
    }
    if (msg.role == "tool") {
      msg.tool_call_id = m.string("tool_call_id");
      if (!msg.tool_call_id) {
        throw invalid_request(fmt::format("'{}.tool_call_id' is required for tool messages", at),
                              at + ".tool_call_id", "missing_required_parameter");
      }
    }
    // The participant's name (OpenAI), or for tool results the function's: passed to the
    // template, which may render it or not.
    msg.name = m.string("name");
    m.reject_unknown();
    out.push_back(std::move(msg));
  }
  return out;
}

// tools: [{"type": "function", "function": {"name", "description"?, "parameters"?,
// "strict"?}}], passed to the template as given.
std::string read_tools(Reader& body) {
  const json* tools = body.array("tools");
  if (!tools || tools->empty()) return {};
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const std::string at = fmt::format("tools[{}]", i);
    const json& tool = (*tools)[i];
    require_object(tool, at);
    Reader t(tool, at + ".");
    if (t.string("type") != "function") throw unsupported(at + ".type", "must be 'function'");
    Reader f(function_of(t, at), at + ".function.");
    function_name(f, at);
    f.string("description");
    f.object("parameters");
    f.boolean("strict");
    f.reject_unknown();
    t.reject_unknown();
  }
  return tools->dump();
}

// tool_choice: "auto" | "none" | "required" | {"type": "function", "function": {"name"}}; the
// last two need tools, the named function one of them.
void read_tool_choice(Reader& body, GenerationRequest& r) {
  const json* choice = body.get("tool_choice");
  if (!choice) return;
  if (choice->is_string()) {
    const std::string mode = choice->get<std::string>();
    if (mode == "none") {
      r.tool_choice = ToolChoice::kNone;
      r.tools_json.clear();
      return;
    }
    if (mode != "auto" && mode != "required") {
      throw invalid_request(
          fmt::format("'tool_choice' must be \"auto\", \"none\", \"required\" or a named "
                      "function, got \"{}\"",
                      mode),
          "tool_choice", "invalid_value");
    }
    r.tool_choice = mode == "auto" ? ToolChoice::kAuto : ToolChoice::kRequired;
  } else if (choice->is_object()) {
    Reader c(*choice, "tool_choice.");
    if (c.string("type") != "function") throw unsupported("tool_choice.type", "must be 'function'");
    Reader f(function_of(c, "tool_choice"), "tool_choice.function.");
    r.tool_choice = ToolChoice::kFunction;
    r.tool_choice_name = function_name(f, "tool_choice");
    f.reject_unknown();
    c.reject_unknown();
  } else {
    throw body.wrong_type("tool_choice", "a string or an object", *choice);
  }
  if (r.tools_json.empty()) {
    throw invalid_request("'tool_choice' other than \"none\" or \"auto\" needs 'tools'",
                          "tool_choice", "invalid_value");
  }
  if (r.tool_choice == ToolChoice::kFunction) {
    bool known = false;
    for (const json& tool : json::parse(r.tools_json)) {
      known = known || tool["function"]["name"] == r.tool_choice_name;
    }
    if (!known) {
      throw invalid_request(fmt::format("'tool_choice' names the function '{}', which is not "
                                        "among the 'tools'",
                                        r.tool_choice_name),
                            "tool_choice.function.name", "invalid_value");
    }
  }
}

std::vector<std::string> read_stop(Reader& body, std::size_t max_count) {
  const json* v = body.get("stop");
  if (!v) return {};
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const json& s : *v) {
      if (!s.is_string()) throw body.wrong_type("stop", "a string or an array of strings", s);
      stops.push_back(s.get<std::string>());
    }
  } else {
    throw body.wrong_type("stop", "a string or an array of strings", *v);
  }
  if (stops.size() > max_count) {
    throw invalid_request(fmt::format("'stop' takes at most {} sequences", max_count), "stop",
                          "invalid_value");
  }
  for (const std::string& s : stops) {
    if (s.empty()) throw invalid_request("'stop' sequences must not be empty", "stop");
  }
  return stops;
}

void read_logit_bias(Reader& body, std::int32_t vocab_size, SamplerConfig& config) {
  const json* v = body.object("logit_bias");
  if (!v) return;
  for (auto it = v->begin(); it != v->end(); ++it) {
    const std::string& key = it.key();
    const std::string at = "logit_bias." + key;
    std::int64_t id = -1;
    const bool digits = !key.empty() && key.size() <= 10 &&
                        key.find_first_not_of("0123456789") == std::string::npos;
    if (digits) id = std::stoll(key);
    if (!digits || id >= vocab_size) {
      throw invalid_request(
          fmt::format("'logit_bias' keys must be token ids in [0, {}), got '{}'", vocab_size, key),
          at, "invalid_value");
    }
    if (!it->is_number()) {
      throw invalid_request(fmt::format("'{}' must be a number", at), at, "invalid_type");
    }
    const double bias = it->get<double>();
    if (!(bias >= -100 && bias <= 100)) {
      throw invalid_request(fmt::format("'{}' must be between -100 and 100", at), at,
                            "invalid_value");
    }
    config.logit_bias.emplace_back(static_cast<std::int32_t>(id), static_cast<float>(bias));
  }
}

void read_prompt(Reader& body, std::int32_t vocab_size, GenerationRequest& request) {
  const json* v = body.get("prompt");
  if (!v) throw invalid_request("'prompt' is required", "prompt", "missing_required_parameter");
  const json* p = v;
  // A list holding one prompt is that prompt; several are a batch (refused like n > 1).
  if (v->is_array() && !v->empty() && ((*v)[0].is_string() || (*v)[0].is_array())) {
    if (v->size() != 1) {
      throw unsupported("prompt", "holds several prompts; send one prompt per request");
    }
    p = &(*v)[0];
  }
  if (p->is_string()) {
    request.prompt_text = p->get<std::string>();
    return;
  }
  if (!p->is_array()) {
    throw body.wrong_type("prompt", "a string, an array of token ids or an array of one", *p);
  }
  request.prompt_is_tokens = true;
  for (const json& t : *p) {
    if (!t.is_number_integer() || t.get<std::int64_t>() < 0 ||
        t.get<std::int64_t>() >= vocab_size) {
      throw invalid_request(fmt::format("'prompt' token ids must be integers in [0, {}), got {}",
                                        vocab_size, t.dump()),
                            "prompt", "invalid_value");
    }
    request.prompt_tokens.push_back(t.get<std::int32_t>());
  }
}

void read_sampling(Reader& body, GenerationRequest& r) {
  SamplerConfig& s = r.sampling;
  s.temperature = static_cast<float>(body.number("temperature", 0, 2).value_or(1.0));
  s.top_p = static_cast<float>(body.number("top_p", 0, 1).value_or(1.0));
  if (s.top_p <= 0) throw invalid_request("'top_p' must be greater than 0", "top_p");
  const auto top_k = body.integer("top_k", -1, std::numeric_limits<int>::max());
  s.top_k = top_k && *top_k > 0 ? static_cast<int>(*top_k) : 0;
  s.min_p = static_cast<float>(body.number("min_p", 0, 1).value_or(0.0));
  s.presence_penalty = static_cast<float>(body.number("presence_penalty", -2, 2).value_or(0.0));
  s.frequency_penalty = static_cast<float>(body.number("frequency_penalty", -2, 2).value_or(0.0));
  const auto repetition = body.number("repetition_penalty", 0, 10);
  if (repetition && *repetition <= 0) {
    throw invalid_request("'repetition_penalty' must be greater than 0", "repetition_penalty");
  }
  s.repetition_penalty = static_cast<float>(repetition.value_or(1.0));
  if (const auto seed = body.integer("seed", std::numeric_limits<std::int64_t>::min(),
                                     std::numeric_limits<std::int64_t>::max())) {
    s.seed = static_cast<std::uint64_t>(*seed);
    r.seed_given = true;
  }
}

void read_common(Reader& body, const ParseLimits& limits, GenerationRequest& r) {
  const auto model = body.string("model");
  if (!model) throw invalid_request("'model' is required", "model", "missing_required_parameter");
  if (*model != limits.model_name) {
    throw ApiError(404,
                   fmt::format("The model '{}' does not exist (this server serves '{}')", *model,
                               limits.model_name),
                   "invalid_request_error", "model", "model_not_found");
  }
  r.model = *model;
  if (const auto n = body.integer("n", 1, 128); n && *n != 1) {
    throw unsupported("n", "must be 1: one choice per request is supported");
  }
  r.stream = body.boolean("stream").value_or(false);
  if (const json* options = body.object("stream_options")) {
    if (!r.stream) {
      throw invalid_request("'stream_options' is only allowed when 'stream' is true",
                            "stream_options");
    }
    Reader o(*options, "stream_options.");
    r.include_usage = o.boolean("include_usage").value_or(false);
    o.reject_unknown();
  }
  if (const auto max = body.integer("max_tokens", 1, std::numeric_limits<int>::max())) {
    r.max_tokens = static_cast<int>(*max);
  }
  read_sampling(body, r);
  r.stop = read_stop(body, limits.max_stop_strings);
  read_logit_bias(body, limits.vocab_size, r.sampling);
  r.ignore_eos = body.boolean("ignore_eos").value_or(false);
  body.string("user");  // an end-user id for the caller's records; generation does not use it
}

// response_format: text, json_object, or json_schema with {name, description?, schema?, strict?}.
void read_response_format(Reader& body, GenerationRequest& r) {
  const json* format = body.object("response_format");
  if (format == nullptr) return;
  Reader f(*format, "response_format.");
  const auto type = f.string("type");
  if (!type) {
    throw invalid_request("'response_format.type' is required", "response_format.type",
                          "missing_required_parameter");
  }
  if (*type == "json_object") {
    r.response_format = ResponseFormat::kJsonObject;
  } else if (*type == "json_schema") {
    r.response_format = ResponseFormat::kJsonSchema;
    const json* spec = f.object("json_schema");
    if (spec == nullptr) {
      throw invalid_request("'response_format.json_schema' is required with type json_schema",
                            "response_format.json_schema", "missing_required_parameter");
    }
    Reader s(*spec, "response_format.json_schema.");
    if (!s.string("name")) {
      throw invalid_request("'response_format.json_schema.name' is required",
                            "response_format.json_schema.name", "missing_required_parameter");
    }
    s.string("description");
    // strict: the schema is always enforced; unsupported schema features are refused either way.
    s.boolean("strict");
    const json* schema = s.object("schema");
    r.json_schema = schema != nullptr ? schema->dump() : "{}";
    s.reject_unknown();
  } else if (*type != "text") {
    throw unsupported("response_format.type",
                      fmt::format("\"{}\" is not supported: use \"text\", \"json_object\" or "
                                  "\"json_schema\"",
                                  *type));
  }
  f.reject_unknown();
}

void read_chat(Reader& body, const ParseLimits& limits, GenerationRequest& r) {
  r.messages = read_messages(body);
  if (const auto max = body.integer("max_completion_tokens", 1, std::numeric_limits<int>::max())) {
    if (r.max_tokens && *r.max_tokens != *max) {
      throw invalid_request("'max_tokens' and 'max_completion_tokens' disagree",
                            "max_completion_tokens");
    }
    r.max_tokens = static_cast<int>(*max);
  }
  r.logprobs = body.boolean("logprobs").value_or(false);
  if (const auto top = body.integer("top_logprobs", 0, limits.max_top_logprobs)) {
    if (!r.logprobs && *top > 0) {
      throw invalid_request("'top_logprobs' needs 'logprobs' set to true", "top_logprobs");
    }
    r.top_logprobs = static_cast<int>(*top);
  }
  r.tools_json = read_tools(body);
  read_tool_choice(body, r);
  body.boolean("parallel_tool_calls");  // several calls in one turn are parsed either way
  read_response_format(body, r);
  if (r.response_format != ResponseFormat::kText &&
      (r.tool_choice == ToolChoice::kRequired || r.tool_choice == ToolChoice::kFunction)) {
    throw invalid_request(
        "'response_format' JSON modes cannot be combined with a forced 'tool_choice': the answer "
        "would have to be both a tool-call block and a JSON document",
        "response_format");
  }
  if (const json* kwargs = body.object("chat_template_kwargs")) {
    r.chat_template_kwargs_json = kwargs->dump();
  }
}

void read_completion(Reader& body, const ParseLimits& limits, GenerationRequest& r) {
  read_prompt(body, limits.vocab_size, r);
  if (const auto top = body.integer("logprobs", 0, limits.max_top_logprobs)) {
    r.logprobs = true;
    r.top_logprobs = static_cast<int>(*top);
  }
  r.echo = body.boolean("echo").value_or(false);
  if (const auto suffix = body.string("suffix"); suffix && !suffix->empty()) {
    throw unsupported("suffix", "is not supported (no fill-in-the-middle template)");
  }
  if (const auto best_of = body.integer("best_of", 1, 128); best_of && *best_of != 1) {
    throw unsupported("best_of", "must be 1");
  }
  if (r.echo && r.logprobs) {
    throw unsupported("echo", "with 'logprobs' is not supported (no prompt log-probabilities)");
  }
}

}  // namespace

GenerationRequest parse_request(Endpoint endpoint, const std::string& body,
                                const ParseLimits& limits) {
  const json root = parse_json(body, limits.max_json_depth);
  if (!root.is_object()) {
    throw invalid_request(
        fmt::format("The request body must be a JSON object, got {}", root.type_name()));
  }
  Reader reader(root, "");
  GenerationRequest request;
  request.endpoint = endpoint;
  read_common(reader, limits, request);
  if (endpoint == Endpoint::kChat) {
    read_chat(reader, limits, request);
  } else {
    read_completion(reader, limits, request);
  }
  reader.reject_unknown();
  request.sampling.top_logprobs = request.top_logprobs;
  return request;
}

}  // namespace mimo::server
