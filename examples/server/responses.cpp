// OpenAI-shaped response bodies and stream chunks (responses.hpp).
#include "server/responses.hpp"

#include <fmt/format.h>

#include <chrono>
#include <random>

namespace mimo::server {

namespace {

using nlohmann::json;

json byte_list(const std::string& bytes) {
  json list = json::array();
  for (unsigned char c : bytes) list.push_back(static_cast<int>(c));
  return list;
}

json chat_logprobs(const std::vector<TokenLogprob>& entries) {
  json content = json::array();
  for (const TokenLogprob& e : entries) {
    json top = json::array();
    for (const TopLogprob& t : e.top) {
      top.push_back({{"token", t.token}, {"logprob", t.logprob}, {"bytes", byte_list(t.bytes)}});
    }
    content.push_back({{"token", e.chosen.token},
                       {"logprob", e.chosen.logprob},
                       {"bytes", byte_list(e.chosen.bytes)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json completion_logprobs(const std::vector<TokenLogprob>& entries, int top_count,
                         std::size_t& text_offset) {
  json tokens = json::array(), logprobs = json::array(), tops = json::array(),
       offsets = json::array();
  for (const TokenLogprob& e : entries) {
    tokens.push_back(e.chosen.token);
    logprobs.push_back(e.chosen.logprob);
    json top = json::object();
    for (const TopLogprob& t : e.top) top[t.token] = t.logprob;
    tops.push_back(top);
    offsets.push_back(text_offset);
    text_offset += e.chosen.token.size();
  }
  return {{"tokens", tokens},
          {"token_logprobs", logprobs},
          {"top_logprobs", top_count > 0 ? tops : json(nullptr)},
          {"text_offset", offsets}};
}

json tool_call_json(const ToolCallDelta& call, bool with_index) {
  json out = {{"id", call.id},
              {"type", "function"},
              {"function", {{"name", call.call.name}, {"arguments", call.call.arguments_json}}}};
  if (with_index) out["index"] = call.index;
  return out;
}

}  // namespace

ResponseHeader new_response_header(Endpoint endpoint, const std::string& model) {
  static thread_local std::mt19937_64 random(std::random_device{}());
  ResponseHeader header;
  header.id =
      fmt::format("{}-{:016x}", endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl", random());
  header.created = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  header.model = model;
  return header;
}

json usage_json(const GenerationOutcome& outcome) {
  json usage = {{"prompt_tokens", outcome.prompt_tokens},
                {"completion_tokens", outcome.completion_tokens},
                {"total_tokens", outcome.prompt_tokens + outcome.completion_tokens},
                {"prompt_tokens_details", {{"cached_tokens", outcome.cached_tokens}}}};
  if (outcome.speculative) {
    const SpeculationStats& s = outcome.speculation;
    usage["speculation"] = {
        {"draft_tokens", s.drafted_tokens},
        {"accepted_tokens", s.accepted_tokens},
        {"acceptance_rate",
         s.drafted_tokens > 0 ? static_cast<double>(s.accepted_tokens) / s.drafted_tokens : 0.0},
        {"verify_steps", s.steps},
        {"mean_tokens_per_step", s.mean_acceptance_length()}};
  }
  return usage;
}

void CollectedAnswer::add(GenerationDelta&& delta) {
  content += delta.content;
  for (auto& call : delta.tool_calls) tool_calls.push_back(std::move(call));
  for (auto& entry : delta.logprobs) logprobs.push_back(std::move(entry));
}

json chat_response(const ResponseHeader& header, const GenerationRequest& request,
                   const CollectedAnswer& answer, const GenerationOutcome& outcome) {
  json message = {{"role", "assistant"}, {"refusal", nullptr}};
  message["content"] =
      answer.content.empty() && !answer.tool_calls.empty() ? json(nullptr) : json(answer.content);
  if (!answer.tool_calls.empty()) {
    message["tool_calls"] = json::array();
    for (const auto& call : answer.tool_calls) {
      message["tool_calls"].push_back(tool_call_json(call, false));
    }
  }
  json choice = {{"index", 0},
                 {"message", message},
                 {"logprobs", request.logprobs ? chat_logprobs(answer.logprobs) : json(nullptr)},
                 {"finish_reason", outcome.finish_reason}};
  return {
      {"id", header.id},       {"object", "chat.completion"},      {"created", header.created},
      {"model", header.model}, {"choices", json::array({choice})}, {"usage", usage_json(outcome)}};
}

json completion_response(const ResponseHeader& header, const GenerationRequest& request,
                         const CollectedAnswer& answer, const GenerationOutcome& outcome) {
  std::size_t offset = 0;
  json choice = {{"index", 0},
                 {"text", answer.content},
                 {"logprobs", request.logprobs ? completion_logprobs(answer.logprobs,
                                                                     request.top_logprobs, offset)
                                               : json(nullptr)},
                 {"finish_reason", outcome.finish_reason}};
  return {
      {"id", header.id},       {"object", "text_completion"},      {"created", header.created},
      {"model", header.model}, {"choices", json::array({choice})}, {"usage", usage_json(outcome)}};
}

json ChunkWriter::chunk(json choice) const {
  const bool chat = request_.endpoint == Endpoint::kChat;
  json out = {{"id", header_.id},
              {"object", chat ? "chat.completion.chunk" : "text_completion"},
              {"created", header_.created},
              {"model", header_.model},
              {"choices", choice.is_null() ? json::array() : json::array({choice})}};
  if (request_.include_usage) out["usage"] = nullptr;
  return out;
}

json ChunkWriter::role_chunk() const {
  return chunk({{"index", 0},
                {"delta", {{"role", "assistant"}, {"content", ""}}},
                {"logprobs", nullptr},
                {"finish_reason", nullptr}});
}

std::optional<json> ChunkWriter::delta_chunk(const GenerationDelta& delta) {
  if (delta.empty()) return std::nullopt;
  if (request_.endpoint == Endpoint::kChat) {
    json d = json::object();
    if (!delta.content.empty()) d["content"] = delta.content;
    if (!delta.tool_calls.empty()) {
      d["tool_calls"] = json::array();
      for (const auto& call : delta.tool_calls)
        d["tool_calls"].push_back(tool_call_json(call, true));
    }
    return chunk({{"index", 0},
                  {"delta", d},
                  {"logprobs", request_.logprobs ? chat_logprobs(delta.logprobs) : json(nullptr)},
                  {"finish_reason", nullptr}});
  }
  return chunk(
      {{"index", 0},
       {"text", delta.content},
       {"logprobs", request_.logprobs
                        ? completion_logprobs(delta.logprobs, request_.top_logprobs, text_offset_)
                        : json(nullptr)},
       {"finish_reason", nullptr}});
}

json ChunkWriter::finish_chunk(const std::string& finish_reason) const {
  if (request_.endpoint == Endpoint::kChat) {
    return chunk({{"index", 0},
                  {"delta", json::object()},
                  {"logprobs", nullptr},
                  {"finish_reason", finish_reason}});
  }
  return chunk(
      {{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", finish_reason}});
}

json ChunkWriter::usage_chunk(const GenerationOutcome& outcome) const {
  json out = chunk(nullptr);
  out["usage"] = usage_json(outcome);
  return out;
}

std::string dump(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sse_event(const json& body) {
  return "data: " + dump(body) + "\n\n";
}

std::string sse_done() {
  return "data: [DONE]\n\n";
}

}  // namespace mimo::server
