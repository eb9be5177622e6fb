// mimo::Session: prefill / step / generate over the CPU executor, with rewind, fork, cancel.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "api/constraint_gate.hpp"
#include "api/non_finite.hpp"
#include "api/sampler_access.hpp"
#include "api/session_impl.hpp"
#include "errors/foreign_errors.hpp"
#include "mimo/error.hpp"

namespace mimo {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

std::unique_ptr<Session::Impl> Session::Impl::create(std::shared_ptr<const Model> model) {
  const Model::Impl& m = model->impl();
  auto state = m.executor->new_state(
      {m.options.max_context, m.options.max_step_tokens, m.options.prefill_chunk_tokens});
  return std::make_unique<Impl>(std::move(model), std::move(state));
}

std::unique_ptr<Session::Impl> Session::Impl::clone() const {
  auto copy = std::make_unique<Impl>(model, state->clone());
  copy->tokens = tokens;
  copy->pending = pending;
  copy->last_logits =
      logits_on_device ? model->impl().executor->fetch_logits(*state, logits_row) : last_logits;
  copy->stats = stats;
  return copy;  // not the speculator: its state belongs to this conversation
}

std::vector<float> Session::Impl::run(const std::vector<std::int32_t>& new_tokens,
                                      bool all_logits) {
  return std::move(run_step(new_tokens, all_logits, {}).logits);
}

exec::StepOutput Session::Impl::run_step(const std::vector<std::int32_t>& new_tokens,
                                         bool all_logits, const std::vector<int>& taps,
                                         const exec::SampleRequest* sample,
                                         const std::vector<exec::SampleRequest>* sample_rows,
                                         bool taps_on_device) {
  exec::StepOptions options;
  options.all_logits = all_logits;
  options.hidden_taps = taps;
  options.taps_on_device = taps_on_device;
  options.sample = sample;
  options.sample_rows = sample_rows;
  options.cancel = cancellation.flag();
  // max_chunk stays 0: the state's bounds, chunks of max_step_tokens when every row's logits
  // are wanted, of max(max_step_tokens, prefill_chunk_tokens) otherwise (a prompt).
  try {
    return m->executor->run(*state, new_tokens, options);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kCancelled) cancellation.take();
    throw;
  }
}

std::optional<SampleResult> Session::Impl::flush_pending(const Sampler* next) {
  if (pending.empty()) return std::nullopt;
  auto start = Clock::now();
  std::optional<exec::SampleRequest> request;
  if (next != nullptr &&
      may_sample_on_device(m->options.sample_on_device, m->executor->can_sample(), false)) {
    request = SamplerAccess::device_request(*next, m->config.vocab_size);
  }
  exec::StepOutput out = run_step(pending, false, {}, request ? &*request : nullptr);
  if (out.sampled) {
    keep_logits_on_device(0);
  } else {
    set_logits(std::move(out.logits));
  }
  stats.decode_seconds += seconds_since(start);
  stats.decode_tokens += static_cast<std::int64_t>(pending.size());
  pending.clear();
  return std::move(out.sampled);
}

const std::vector<float>& Session::Impl::host_logits() {
  if (logits_on_device) set_logits(m->executor->fetch_logits(*state, logits_row));
  if (!logits_checked) {
    check_finite_logits(last_logits.data(), last_logits.empty() ? 0 : 1, last_logits.size(),
                        state->length() - 1, "Session::logits");
    logits_checked = true;
  }
  return last_logits;
}

void Session::Impl::refuse_in_callback(const char* method) const {
  if (in_callback) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: called from generate()'s on_token callback, which may only read "
                            "the session or cancel() it (return false to stop generation first)",
                            method));
  }
}

bool Session::Impl::call_on_token(const TokenCallback& on_token, const SampleResult& s) {
  struct Flag {
    bool& value;
    ~Flag() { value = false; }
  } flag{in_callback};
  in_callback = true;
  return on_token(s);
}

void Session::Impl::check_room(std::size_t new_tokens, const char* method) const {
  const std::int64_t capacity = m->options.max_context;
  const auto used = static_cast<std::int64_t>(tokens.size());
  if (used + static_cast<std::int64_t>(new_tokens) <= capacity) return;
  throw Error(ErrorCode::kOutOfRange,
              fmt::format("{}: the context is full: {} tokens in it + {} new exceed max_context {} "
                          "(rewind or reset the session, or load with a larger max_context)",
                          method, used, new_tokens, capacity));
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

void Session::prefill(const std::vector<std::int32_t>& new_tokens) try {
  impl_->refuse_in_callback("Session::prefill");
  const Cancellation::Scope operation(impl_->cancellation);
  if (new_tokens.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "Session::prefill: the token list is empty");
  }
  impl_->check_room(new_tokens.size(), "Session::prefill");
  std::vector<std::int32_t> batch = impl_->pending;
  batch.insert(batch.end(), new_tokens.begin(), new_tokens.end());
  auto start = Clock::now();
  impl_->set_logits(impl_->run(batch, false));
  impl_->stats.prefill_seconds += seconds_since(start);
  impl_->stats.prefill_tokens += static_cast<std::int64_t>(batch.size());
  impl_->pending.clear();
  impl_->tokens.insert(impl_->tokens.end(), new_tokens.begin(), new_tokens.end());
} catch (...) {
  rethrow_as_internal_error("Session::prefill");
}

const std::vector<float>& Session::logits() try {
  impl_->refuse_in_callback("Session::logits");
  const Cancellation::Scope operation(impl_->cancellation);
  impl_->flush_pending();
  if (impl_->host_logits().empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "Session::logits: the context is empty (call prefill first)");
  }
  return impl_->last_logits;
} catch (...) {
  rethrow_as_internal_error("Session::logits");
}

std::vector<float> Session::score(const std::vector<std::int32_t>& new_tokens) try {
  impl_->refuse_in_callback("Session::score");
  if (new_tokens.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "Session::score: the token list is empty");
  }
  impl_->check_room(new_tokens.size(), "Session::score");
  const Cancellation::Scope operation(impl_->cancellation);
  impl_->flush_pending();
  const auto first_position = static_cast<std::int64_t>(impl_->tokens.size());
  auto start = Clock::now();
  std::vector<float> all = impl_->run(new_tokens, true);
  impl_->stats.prefill_seconds += seconds_since(start);
  impl_->stats.prefill_tokens += static_cast<std::int64_t>(new_tokens.size());
  const std::size_t vocab = static_cast<std::size_t>(impl_->m->config.vocab_size);
  impl_->set_logits(std::vector<float>(all.end() - static_cast<std::ptrdiff_t>(vocab), all.end()));
  impl_->tokens.insert(impl_->tokens.end(), new_tokens.begin(), new_tokens.end());
  check_finite_logits(all.data(), new_tokens.size(), vocab, first_position, "Session::score");
  return all;
} catch (...) {
  rethrow_as_internal_error("Session::score");
}

SampleResult Session::step(Sampler& sampler) try {
  impl_->refuse_in_callback("Session::step");
  const Cancellation::Scope operation(impl_->cancellation);
  impl_->check_room(1, "Session::step");
  const std::vector<float>& current = logits();
  auto start = Clock::now();
  SampleResult result = sampler.sample(current.data(), impl_->m->config.vocab_size);
  sampler.accept(result.token);
  impl_->set_logits(impl_->run({result.token}, false));
  impl_->tokens.push_back(result.token);
  impl_->stats.decode_seconds += seconds_since(start);
  impl_->stats.decode_tokens += 1;
  return result;
} catch (...) {
  rethrow_as_internal_error("Session::step");
}

GenerateResult Session::generate(const std::vector<std::int32_t>& prompt, Sampler& sampler,
                                 const GenerateOptions& options,
                                 const TokenCallback& on_token) try {
  impl_->refuse_in_callback("Session::generate");
  if (options.max_tokens < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("GenerateOptions.max_tokens must be >= 0, got {}", options.max_tokens));
  }
  if (prompt.empty() && impl_->tokens.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "Session::generate: empty prompt and empty context: nothing to continue from");
  }
  const Cancellation::Scope operation(impl_->cancellation);
  if (options.speculator) {
    return impl_->generate_speculative(prompt, sampler, options, on_token);
  }
  const auto call_start = Clock::now();
  GenerateResult result;
  std::vector<std::int32_t> stops = options.stop_token_ids;
  if (stops.empty() && !options.ignore_eos) stops = impl_->m->summary.eos_token_ids;
  const std::int32_t vocab = impl_->m->config.vocab_size;
  ConstraintGate gate(options.constraint.get(), stops, vocab);
  // A constraint masks every row on the host: no token is drawn on the device then.
  const Sampler* device_sampler = gate.active() ? nullptr : &sampler;
  try {
    if (!prompt.empty()) {
      prefill(prompt);
      for (std::int32_t t : prompt) sampler.accept(t);
    } else {
      logits();  // runs a pending token, so the logits are current
    }
    const std::int64_t capacity = impl_->m->options.max_context;
    // The token the last step drew on the device (sample_on_device), if it did.
    std::optional<SampleResult> drawn;
    for (int i = 0; i < options.max_tokens; ++i) {
      if (impl_->cancellation.take()) {
        result.reason = StopReason::kCancelled;
        return result;
      }
      // A full context takes no further token (a call after a kContextFull stop included).
      if (static_cast<std::int64_t>(impl_->tokens.size()) >= capacity) {
        result.reason = StopReason::kContextFull;
        return result;
      }
      auto start = Clock::now();
      SampleResult sampled;
      if (drawn) {
        sampled = std::move(*drawn);
        SamplerAccess::consume_device_draw(sampler);
      } else {
        const float* row = gate.mask(impl_->host_logits().data(), impl_->state->length());
        if (row == nullptr) {
          result.reason = StopReason::kConstraintComplete;
          return result;
        }
        sampled = sampler.sample(row, vocab);
      }
      sampler.accept(sampled.token);
      gate.accept(sampled.token);
      impl_->stats.decode_seconds += seconds_since(start);
      if (i == 0) impl_->stats.time_to_first_token_seconds = seconds_since(call_start);
      result.tokens.push_back(sampled.token);
      impl_->tokens.push_back(sampled.token);
      impl_->pending.push_back(sampled.token);
      if (on_token && !impl_->call_on_token(on_token, sampled)) {
        result.reason = StopReason::kCallback;
        return result;
      }
      if (std::find(stops.begin(), stops.end(), sampled.token) != stops.end()) {
        result.reason = StopReason::kStopToken;
        return result;
      }
      if (i + 1 == options.max_tokens) break;
      if (static_cast<std::int64_t>(impl_->tokens.size()) >= capacity) {
        result.reason = StopReason::kContextFull;
        return result;
      }
      drawn = impl_->flush_pending(device_sampler);
    }
    result.reason = StopReason::kMaxTokens;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kCancelled) throw;
    result.reason = StopReason::kCancelled;
  }
  return result;
} catch (...) {
  rethrow_as_mimo_error("Session::generate");
}

void Session::cancel() noexcept {
  impl_->cancellation.request();
}

void Session::rewind(std::int64_t n_tokens) try {
  impl_->refuse_in_callback("Session::rewind");
  if (n_tokens < 0 || n_tokens > position()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("Session::rewind: cannot drop {} tokens from a context of {}", n_tokens,
                            position()));
  }
  // The cache keeps all but the new last token, which becomes pending: running it again
  // recomputes the logits the next step samples from.
  // A sliding-window ring only remembers the last few overwritten keys: past that, the kept
  // tokens are recomputed from the history (exact either way).
  const std::int64_t new_length = position() - n_tokens;
  std::int64_t keep = std::min(impl_->state->length(), std::max<std::int64_t>(new_length - 1, 0));
  if (!impl_->state->can_truncate(keep)) keep = 0;
  impl_->state->truncate(keep);
  if (impl_->speculator) impl_->speculator->truncate(keep);
  impl_->tokens.resize(static_cast<std::size_t>(new_length));
  impl_->pending.assign(impl_->tokens.begin() + keep, impl_->tokens.end());
  impl_->set_logits({});
} catch (...) {
  rethrow_as_mimo_error("Session::rewind");
}

std::unique_ptr<Session> Session::fork() const try {
  return std::unique_ptr<Session>(new Session(impl_->clone()));
} catch (...) {
  rethrow_as_internal_error("Session::fork");
}

void Session::reset() try {
  impl_->refuse_in_callback("Session::reset");
  impl_->state->truncate(0);
  if (impl_->speculator) impl_->speculator->truncate(0);
  impl_->tokens.clear();
  impl_->pending.clear();
  impl_->set_logits({});
  impl_->stats = SessionStats{};
} catch (...) {
  rethrow_as_mimo_error("Session::reset");
}

std::int64_t Session::position() const {
  return static_cast<std::int64_t>(impl_->tokens.size());
}
const std::vector<std::int32_t>& Session::tokens() const {
  return impl_->tokens;
}
const SessionStats& Session::stats() const {
  return impl_->stats;
}
const Model& Session::model() const {
  return *impl_->model;
}

}  // namespace mimo
