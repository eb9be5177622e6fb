// The JSON bodies mimo-server answers with, exactly as the OpenAI API shapes them: whole
// responses, streamed chunks (server-sent events), usage and log-probabilities.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "server/generation.hpp"

namespace mimo::server {

struct ResponseHeader {
  std::string id;  // chatcmpl-... / cmpl-...
  std::int64_t created = 0;
  std::string model;
};
ResponseHeader new_response_header(Endpoint endpoint, const std::string& model);

// {"prompt_tokens", "completion_tokens", "total_tokens"} plus, with speculative decoding, the
// extension object "speculation" {"draft_tokens", "accepted_tokens", "acceptance_rate",
// "verify_steps", "mean_tokens_per_step"}.
nlohmann::json usage_json(const GenerationOutcome& outcome);

// Everything a non-streamed answer collects from the deltas.
struct CollectedAnswer {
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  std::vector<TokenLogprob> logprobs;
  void add(GenerationDelta&& delta);
};

nlohmann::json chat_response(const ResponseHeader& header, const GenerationRequest& request,
                             const CollectedAnswer& answer, const GenerationOutcome& outcome);
nlohmann::json completion_response(const ResponseHeader& header, const GenerationRequest& request,
                                   const CollectedAnswer& answer, const GenerationOutcome& outcome);

// Streamed chunks. The first chat chunk carries {"role": "assistant", "content": ""}; the last
// one of a choice carries finish_reason; with include_usage every chunk has "usage": null and a
// last chunk with no choices carries the usage.
class ChunkWriter {
 public:
  ChunkWriter(ResponseHeader header, const GenerationRequest& request)
      : header_(std::move(header)), request_(request) {}
  nlohmann::json role_chunk() const;  // chat only
  // The chunk for one delta (nullopt when it has nothing to say).
  std::optional<nlohmann::json> delta_chunk(const GenerationDelta& delta);
  nlohmann::json finish_chunk(const std::string& finish_reason) const;
  nlohmann::json usage_chunk(const GenerationOutcome& outcome) const;

 private:
  nlohmann::json chunk(nlohmann::json choice) const;
  ResponseHeader header_;
  const GenerationRequest& request_;
  std::size_t text_offset_ = 0;  // completions' logprobs.text_offset runs across chunks
};

// "data: <json>\n\n", and the closing "data: [DONE]\n\n".
std::string sse_event(const nlohmann::json& body);
std::string sse_done();
// JSON text for the wire: invalid UTF-8 (never expected) is replaced, not thrown on.
std::string dump(const nlohmann::json& body);

}  // namespace mimo::server
