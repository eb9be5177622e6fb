// One request's generation on the served model: the prompt built from the request (chat
// template or completion prompt), checked against the context, then generated one scheduler turn
// per token on the slot's session or a cached one holding the prompt's start (prefix_cache.hpp),
// its text cut at stop strings and split into content and tool calls, with per-token
// log-probabilities - reported as deltas while it runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mimo/json_constraint.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "mimo/tokenizer.hpp"
#include "server/prefix_cache.hpp"
#include "server/request.hpp"
#include "server/step_scheduler.hpp"
#include "server/tool_calls.hpp"

namespace mimo::server {

// The model behind the server, one drafter per scheduler slot, and the sessions: each slot's own
// and the prefix cache of finished ones.
class ServedModel {
 public:
  struct Options {
    std::string name;                          // the id clients pass as "model"
    std::string drafter_dir;                   // empty: no speculative decoding
    int draft_block = 0;                       // 0: the drafter's block size
    bool lookup_first = false;                 // the drafter behind make_lookup_first_speculator
    std::string template_source;               // empty: the tokenizer's chat template
    std::optional<std::int64_t> template_now;  // the chat template's clock; unset: the time
    int slots = 1;
    int prefix_cache = 4;  // finished sessions kept for prefix reuse (0: none)
  };
  ServedModel(std::shared_ptr<const Model> model, Tokenizer tokenizer, const Options& options);

  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const std::string& name() const { return options_.name; }
  bool speculative() const { return !options_.drafter_dir.empty(); }
  ToolCallFormat tool_format() const { return tool_format_; }
  const std::optional<ChatTemplate>& chat_template() const { return template_; }
  std::optional<std::int64_t> template_now() const { return options_.template_now; }
  std::int64_t max_context() const { return model_->summary().max_context; }
  // Tokens that end an answer: the model's EOS ids and the tokenizer's end-of-turn tokens.
  const std::vector<std::int32_t>& stop_tokens() const { return stop_tokens_; }

  // A session for a request on `slot` whose first `reused` prompt tokens are already in its
  // context: from the prefix cache when `reuse` and an entry shares enough of the prompt, else
  // the slot's own session, reset. With a drafter a cache hit is a fork (a cached session may
  // still be bound to another slot's speculator, so it is never run again), without one it is
  // taken over.
  struct Lease {
    std::unique_ptr<Session> session;
    std::int64_t reused = 0;
  };
  Lease acquire(int slot, const std::vector<std::int32_t>& prompt, bool reuse);
  // Hands a finished request's session back: into the prefix cache (its consistent context is
  // worth keeping, a cancelled one's too); what the cache drops becomes the own session of the
  // slot whose speculator it is bound to (without a drafter: of this slot), if that has none.
  void release(int slot, std::unique_ptr<Session> session);
  const PrefixCache& prefix_cache() const { return prefix_cache_; }
  std::shared_ptr<Speculator> speculator(int slot);  // null without a drafter
  // The tokenizer's vocabulary trie for JSON response formats (built by the first such request).
  std::shared_ptr<const TokenVocabulary> json_vocabulary();

 private:
  std::shared_ptr<const Model> model_;
  Tokenizer tokenizer_;
  Options options_;
  std::optional<ChatTemplate> template_;
  ToolCallFormat tool_format_ = ToolCallFormat::kNone;
  std::vector<std::int32_t> stop_tokens_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Session>> sessions_;  // null while its slot's request holds it
  PrefixCache prefix_cache_;
  std::unordered_map<const Session*, int> bound_slot_;  // with a drafter: cached sessions' slots
  std::vector<std::shared_ptr<Speculator>> speculators_;
  std::shared_ptr<const TokenVocabulary> json_vocabulary_;
};

// The grammar the request's response_format asks for (nullopt: text). Throws ApiError 400
// (param response_format.json_schema.schema) for a schema outside the supported subset, its
// message naming the schema path.
std::optional<JsonGrammar> response_grammar(const GenerationRequest& request);

// The prompt's token ids; throws ApiError (400) when the template refuses the conversation,
// tools are given to a template that cannot render them, or the prompt does not fit the context
// (the message names the limit), or the response_format's schema is refused (response_grammar).
// A forced tool_choice ends it with the call block's opening (forced_call_prefix).
std::vector<std::int32_t> build_prompt(const ServedModel& served, const GenerationRequest& request);

struct TopLogprob {
  std::string token;
  std::string bytes;  // raw bytes of the token (may be part of a UTF-8 character)
  float logprob = 0;
};
struct TokenLogprob {
  TopLogprob chosen;
  std::vector<TopLogprob> top;
};
struct ToolCallDelta {
  int index = 0;
  std::string id;
  ParsedToolCall call;
};

// What one step added. Empty deltas are reported too (every step), so a caller can notice a
// client that went away.
struct GenerationDelta {
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  std::vector<TokenLogprob> logprobs;
  bool empty() const { return content.empty() && tool_calls.empty() && logprobs.empty(); }
};

struct GenerationOutcome {
  std::string finish_reason;  // stop, length, tool_calls; "cancelled" when the client left
  std::int64_t prompt_tokens = 0;
  std::int64_t cached_tokens = 0;  // prompt tokens reused from the prefix cache, not prefilled
  std::int64_t completion_tokens = 0;
  double time_to_first_token_seconds = 0;  // from the start of the generation
  double decode_seconds = 0;
  bool speculative = false;
  SpeculationStats speculation;
};

// Runs the generation on the ticket's slot, one scheduler turn per token. `emit` returns false
// when the client is gone: the generation stops at that step. Throws ApiError for failures
// (a sampler refusing its settings: 400; the model computing NaN: 500; a forced tool_choice
// whose answer holds no valid call of the function: 500 tool_call_missing).
GenerationOutcome generate(ServedModel& served, StepScheduler::Ticket& ticket,
                           const GenerationRequest& request,
                           const std::vector<std::int32_t>& prompt,
                           const std::function<bool(GenerationDelta&&)>& emit);

}  // namespace mimo::server
