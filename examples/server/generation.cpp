// Prompt building and token-by-token generation for one request (generation.hpp).
#include "server/generation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "mimo/error.hpp"
#include "mimo/sampler.hpp"
#include "server/api_error.hpp"

namespace mimo::server {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

ChatSpecialTokens special_tokens(const Tokenizer& tokenizer) {
  ChatSpecialTokens tokens;
  auto text = [&](std::optional<TokenId> id) {
    return id ? tokenizer.id_to_token(*id).value_or("") : std::string();
  };
  tokens.bos_token = text(tokenizer.bos_id());
  tokens.eos_token = text(tokenizer.eos_id());
  tokens.pad_token = text(tokenizer.pad_id());
  return tokens;
}

// Tokens that close a turn in the common chat formats (ChatML, Llama 3, Phi, Gemma).
constexpr const char* kEndOfTurnTokens[] = {"<|im_end|>", "<|eot_id|>",    "<|eom_id|>",
                                            "<|end|>",    "<end_of_turn>", "<|endoftext|>"};

ApiError context_exceeded(std::int64_t limit, std::int64_t prompt, std::int64_t asked,
                          const char* param) {
  std::string message = fmt::format(
      "This model's maximum context length is {} tokens. However, you requested {} tokens ({} in "
      "the prompt{}).",
      limit, prompt + asked, prompt,
      asked > 0 ? fmt::format(", {} for the completion", asked) : std::string());
  message += asked > 0 ? " Please reduce the prompt or max_tokens."
                       : " The prompt must leave room for at least one generated token.";
  return invalid_request(message, param, "context_length_exceeded");
}

// The answer of a forced tool_choice must open with the call block the prompt ends with.
bool forces_call(const GenerationRequest& request) {
  return request.tool_choice == ToolChoice::kRequired ||
         request.tool_choice == ToolChoice::kFunction;
}

std::string forced_prefix(const ServedModel& served, const GenerationRequest& request) {
  return forces_call(request) ? forced_call_prefix(served.tool_format(), request.tool_choice_name)
                              : std::string();
}

// What a forced tool_choice answers when the model's text holds no valid call of the function.
ApiError tool_call_missing(const GenerationRequest& request, const std::string& written,
                           bool cut_short) {
  const std::string wanted = request.tool_choice == ToolChoice::kFunction
                                 ? fmt::format("a call of '{}'", request.tool_choice_name)
                                 : std::string("a tool call");
  constexpr std::size_t kShown = 200;
  return ApiError(
      500,
      fmt::format("tool_choice asked for {}, but the model's answer holds no valid tool-call block"
                  "{} (it wrote: {}{})",
                  wanted, cut_short ? " (it was cut short by max_tokens or the context)" : "",
                  nlohmann::json(written.substr(0, kShown))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  written.size() > kShown ? "..." : ""),
      "server_error", "tool_choice", "tool_call_missing");
}

// This request's share of a session's speculation statistics (a reused session brings those of
// the requests before it).
SpeculationStats speculation_since(const SpeculationStats& before, SpeculationStats now) {
  now.steps -= before.steps;
  now.drafted_tokens -= before.drafted_tokens;
  now.accepted_tokens -= before.accepted_tokens;
  now.emitted_tokens -= before.emitted_tokens;
  now.draft_seconds -= before.draft_seconds;
  now.verify_seconds -= before.verify_seconds;
  now.verify_pass_seconds -= before.verify_pass_seconds;
  now.observe_seconds -= before.observe_seconds;
  for (std::size_t i = 0; i < before.acceptance_histogram.size(); ++i) {
    now.acceptance_histogram[i] -= before.acceptance_histogram[i];
  }
  for (std::size_t i = 0; i < before.draft_histogram.size(); ++i) {
    now.draft_histogram[i] -= before.draft_histogram[i];
  }
  return now;
}

TopLogprob describe(const Tokenizer& tokenizer, std::int32_t id, float logprob) {
  return {tokenizer.decode({id}, false), tokenizer.token_bytes(id), logprob};
}

}  // namespace

ServedModel::ServedModel(std::shared_ptr<const Model> model, Tokenizer tokenizer,
                         const Options& options)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      options_(options),
      prefix_cache_(options.prefix_cache) {
  if (!options_.template_source.empty()) {
    template_ = ChatTemplate::from_source(options_.template_source, "--chat-template",
                                          special_tokens(tokenizer_));
  } else if (tokenizer_.has_chat_template()) {
    template_ = tokenizer_.chat_template();
  }
  if (template_) tool_format_ = detect_tool_call_format(template_->source());
  stop_tokens_ = model_->summary().eos_token_ids;
  for (const char* name : kEndOfTurnTokens) {
    if (auto id = tokenizer_.token_to_id(name)) stop_tokens_.push_back(*id);
  }
  std::sort(stop_tokens_.begin(), stop_tokens_.end());
  stop_tokens_.erase(std::unique(stop_tokens_.begin(), stop_tokens_.end()), stop_tokens_.end());
  sessions_.resize(static_cast<std::size_t>(std::max(1, options_.slots)));
  speculators_.resize(sessions_.size());
}

ServedModel::Lease ServedModel::acquire(int slot, const std::vector<std::int32_t>& prompt,
                                        bool reuse) {
  if (reuse) {
    PrefixCache::Hit hit = prefix_cache_.find(prompt, !speculative());
    if (hit.session) return {std::move(hit.session), hit.reused};
  }
  std::unique_ptr<Session> session;
  {
    std::lock_guard lock(mutex_);
    session = std::move(sessions_.at(static_cast<std::size_t>(slot)));
  }
  if (session) {
    session->reset();
  } else {
    session = model_->new_session();
  }
  return {std::move(session), 0};
}

void ServedModel::release(int slot, std::unique_ptr<Session> session) {
  if (speculative()) {
    std::lock_guard lock(mutex_);
    bound_slot_[session.get()] = slot;
  }
  std::unique_ptr<Session> dropped = prefix_cache_.put(std::move(session));
  if (!dropped) return;
  // A session bound to a slot's speculator is only ever reset or run again by that slot (its
  // reset truncates that speculator, which must not be serving another session meanwhile).
  std::lock_guard lock(mutex_);
  int owner = slot;
  if (auto it = bound_slot_.find(dropped.get()); it != bound_slot_.end()) {
    owner = it->second;
    bound_slot_.erase(it);
  }
  auto& own = sessions_.at(static_cast<std::size_t>(owner));
  if (!own) own = std::move(dropped);
}

std::shared_ptr<Speculator> ServedModel::speculator(int slot) {
  if (!speculative()) return nullptr;
  std::lock_guard lock(mutex_);
  auto& speculator = speculators_.at(static_cast<std::size_t>(slot));
  if (!speculator) {
    DFlashOptions options;
    options.block_size = options_.draft_block;
    speculator = make_dflash_speculator(*model_, options_.drafter_dir, options);
    if (options_.lookup_first) speculator = make_lookup_first_speculator(speculator);
  }
  return speculator;
}

std::shared_ptr<const TokenVocabulary> ServedModel::json_vocabulary() {
  {
    std::lock_guard lock(mutex_);
    if (json_vocabulary_) return json_vocabulary_;
  }
  // Built outside the lock (a few hundred ms on a 150k vocabulary): other slots keep going.
  auto built = TokenVocabulary::from_tokenizer(tokenizer_);
  std::lock_guard lock(mutex_);
  if (!json_vocabulary_) json_vocabulary_ = std::move(built);
  return json_vocabulary_;
}

std::optional<JsonGrammar> response_grammar(const GenerationRequest& request) {
  switch (request.response_format) {
    case ResponseFormat::kText:
      return std::nullopt;
    case ResponseFormat::kJsonObject:
      return JsonGrammar::object();
    case ResponseFormat::kJsonSchema:
      break;
  }
  try {
    return JsonGrammar::schema(request.json_schema);
  } catch (const Error& e) {
    throw invalid_request(e.what(), "response_format.json_schema.schema", "unsupported_parameter");
  }
}

std::vector<std::int32_t> build_prompt(const ServedModel& served,
                                       const GenerationRequest& request) {
  response_grammar(request);  // a schema outside the subset is refused before the queue
  std::vector<std::int32_t> prompt;
  const char* param = "prompt";
  if (request.endpoint == Endpoint::kChat) {
    param = "messages";
    if (!served.chat_template()) {
      throw invalid_request(fmt::format("The model '{}' has no chat template; use "
                                        "/v1/completions or start the server with "
                                        "--chat-template",
                                        served.name()),
                            "messages", "no_chat_template");
    }
    if (!request.tools_json.empty() && served.tool_format() == ToolCallFormat::kNone) {
      throw invalid_request(fmt::format("The chat template of '{}' does not render tools; start "
                                        "the server with a --chat-template that does",
                                        served.name()),
                            "tools", "tools_unsupported");
    }
    ChatTemplateOptions options;
    options.tools_json = request.tools_json;
    options.extra_context_json = request.chat_template_kwargs_json;
    options.now = served.template_now();
    if (!request.chat_template_kwargs_json.empty()) {
      const auto kwargs = nlohmann::json::parse(request.chat_template_kwargs_json);
      if (auto it = kwargs.find("enable_thinking"); it != kwargs.end() && it->is_boolean()) {
        options.enable_thinking = it->get<bool>();
      }
    }
    std::string text;
    try {
      text = served.chat_template()->render(request.messages, options);
    } catch (const Error& e) {
      throw invalid_request(fmt::format("The chat template refused the conversation: {}", e.what()),
                            "messages", "chat_template_error");
    }
    prompt = served.tokenizer().encode(text + forced_prefix(served, request), false);
  } else if (request.prompt_is_tokens) {
    prompt = request.prompt_tokens;
  } else {
    prompt = served.tokenizer().encode(request.prompt_text, true);
  }
  if (prompt.empty()) {
    throw invalid_request("The prompt is empty: at least one token is needed", param,
                          "invalid_value");
  }
  const std::int64_t limit = served.max_context();
  const auto size = static_cast<std::int64_t>(prompt.size());
  if (size >= limit) throw context_exceeded(limit, size, 0, param);
  if (request.max_tokens && size + *request.max_tokens > limit) {
    throw context_exceeded(limit, size, *request.max_tokens, param);
  }
  return prompt;
}

GenerationOutcome generate(ServedModel& served, StepScheduler::Ticket& ticket,
                           const GenerationRequest& request,
                           const std::vector<std::int32_t>& prompt,
                           const std::function<bool(GenerationDelta&&)>& emit) {
  const Tokenizer& tokenizer = served.tokenizer();
  SamplerConfig config = request.sampling;
  if (!request.seed_given) config.seed = std::random_device{}();
  std::optional<Sampler> sampler;
  try {
    sampler.emplace(config);
  } catch (const Error& e) {
    throw invalid_request(e.what());
  }
  GenerateOptions options;
  const auto room = served.max_context() - static_cast<std::int64_t>(prompt.size());
  options.max_tokens = request.max_tokens.value_or(static_cast<int>(room));
  options.ignore_eos = request.ignore_eos;
  if (!request.ignore_eos) options.stop_token_ids = served.stop_tokens();
  options.speculator = served.speculator(ticket.slot());
  if (std::optional<JsonGrammar> grammar = response_grammar(request)) {
    options.constraint = std::make_shared<JsonConstraint>(*grammar, served.json_vocabulary());
  }

  const ToolCallFormat format =
      request.tools_json.empty() ? ToolCallFormat::kNone : served.tool_format();
  TokenStreamDecoder decoder(tokenizer, request.stop);
  ToolCallExtractor extractor(format);
  GenerationOutcome outcome;
  outcome.prompt_tokens = static_cast<std::int64_t>(prompt.size());
  outcome.speculative = options.speculator != nullptr;
  GenerationDelta pending;
  std::vector<std::string> call_names;
  std::string written;  // the answer's content as the model wrote it (forced prefix included)
  std::mt19937_64 ids(std::random_device{}());
  bool stopped_by_string = false;
  bool client_gone = false;
  bool shut_down = false;

  auto add_text = [&](std::vector<ExtractedPiece> pieces) {
    for (ExtractedPiece& piece : pieces) {
      if (piece.call) {
        call_names.push_back(piece.call->name);
        pending.tool_calls.push_back(
            {extractor.calls() - 1, fmt::format("call_{:016x}", ids()), std::move(*piece.call)});
      } else if (extractor.calls() == 0 ||
                 piece.content.find_first_not_of(" \t\r\n") != std::string::npos) {
        pending.content += piece.content;
      }
      written += piece.content;
    }
  };

  add_text(extractor.push(forced_prefix(served, request)));  // held: it opens a block

  const auto start = Clock::now();
  if (!ticket.begin_step()) {
    outcome.finish_reason = "cancelled";
    return outcome;
  }
  // Sampled speculative decoding draws from the drafts, and a drafter that has not seen the
  // reused prefix drafts differently: the same seed would give another answer. Greedy output
  // never depends on the drafts.
  const bool reuse = !options.speculator || config.temperature == 0;
  ServedModel::Lease lease = served.acquire(ticket.slot(), prompt, reuse);
  Session& session = *lease.session;
  outcome.cached_tokens = lease.reused;
  // The reused prefix is not prefilled, but the penalties see the whole prompt, as without reuse.
  for (std::int64_t i = 0; i < lease.reused; ++i) sampler->accept(prompt[i]);
  const std::vector<std::int32_t> rest(prompt.begin() + lease.reused, prompt.end());
  const SpeculationStats before = session.stats().speculation;
  GenerateResult result;
  try {
    result = session.generate(rest, *sampler, options, [&](const SampleResult& sampled) {
      if (++outcome.completion_tokens == 1)
        outcome.time_to_first_token_seconds = seconds_since(start);
      if (request.logprobs) {
        TokenLogprob entry{describe(tokenizer, sampled.token, sampled.logprob), {}};
        for (const auto& [id, logprob] : sampled.top_logprobs) {
          entry.top.push_back(describe(tokenizer, id, logprob));
        }
        pending.logprobs.push_back(std::move(entry));
      }
      StreamText text = decoder.push(sampled.token);
      add_text(extractor.push(text.text));
      stopped_by_string = text.stopped;
      ticket.end_step();
      if (!emit(std::move(pending))) client_gone = true;
      pending = {};
      if (client_gone || stopped_by_string) return false;
      if (!ticket.begin_step()) {
        shut_down = true;
        return false;
      }
      return true;
    });
  } catch (const Error& e) {
    ticket.end_step();
    throw ApiError(
        e.code() == ErrorCode::kInvalidArgument ? 400 : 500,
        fmt::format("generation failed: {}", e.what()),
        e.code() == ErrorCode::kInvalidArgument ? "invalid_request_error" : "server_error",
        std::nullopt, to_string(e.code()));
  }
  ticket.end_step();
  outcome.decode_seconds = seconds_since(start) - outcome.time_to_first_token_seconds;
  outcome.speculation = speculation_since(before, session.stats().speculation);
  served.release(ticket.slot(), std::move(lease.session));
  if (client_gone || shut_down || result.reason == StopReason::kCancelled) {
    outcome.finish_reason = "cancelled";
    return outcome;
  }
  if (!stopped_by_string) add_text(extractor.push(decoder.flush().text));
  add_text(extractor.finish());
  const bool length =
      result.reason == StopReason::kMaxTokens || result.reason == StopReason::kContextFull;
  outcome.finish_reason = stopped_by_string || !length ? "stop" : "length";
  if (extractor.calls() > 0 && outcome.finish_reason == "stop")
    outcome.finish_reason = "tool_calls";
  if (forces_call(request) &&
      (call_names.empty() || (request.tool_choice == ToolChoice::kFunction &&
                              call_names.front() != request.tool_choice_name))) {
    throw tool_call_missing(request, written, length);
  }
  if (!pending.empty()) emit(std::move(pending));
  return outcome;
}

}  // namespace mimo::server
