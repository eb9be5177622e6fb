// The executor envelope: validation, chunking and cancellation shared by every executor.
#include "exec/step_envelope.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mimo/error.hpp"

namespace mimo::exec {

void validate_step(const model::ModelConfig& config, const ExecutorState& state,
                   std::span<const std::int32_t> tokens, const StepOptions& options) {
  if (tokens.empty()) throw Error(ErrorCode::kInvalidArgument, "forward: no tokens given");
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config.vocab_size) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: token {} at index {} is outside the vocabulary [0, {})",
                              tokens[i], i, config.vocab_size));
    }
  }
  const std::int64_t needed = state.length() + static_cast<std::int64_t>(tokens.size());
  if (needed > state.max_context()) {
    throw Error(ErrorCode::kOutOfRange,
                fmt::format("forward: {} cached + {} new tokens exceed the context of {}",
                            state.length(), tokens.size(), state.max_context()));
  }
  program::check_taps(config, options.hidden_taps);
}

void validate_limits(const StateLimits& limits, const char* what) {
  const auto refuse = [&](const char* field, std::int64_t value, std::int64_t low) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: {} is {}, expected {} .. {}", what,
                                                         field, value, low, kMaxChunkTokens));
  };
  if (limits.max_context < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: max_context is {}, expected >= 1", what, limits.max_context));
  }
  if (limits.max_step_tokens < 1 || limits.max_step_tokens > kMaxChunkTokens) {
    refuse("max_step_tokens", limits.max_step_tokens, 1);
  }
  if (limits.prefill_chunk_tokens < 0 || limits.prefill_chunk_tokens > kMaxChunkTokens) {
    refuse("prefill_chunk_tokens", limits.prefill_chunk_tokens, 0);
  }
}

int chunk_tokens(const StepOptions& options, const ExecutorState& state) {
  const int bound = options.all_logits ? state.max_step_tokens() : state.max_chunk_tokens();
  return options.max_chunk > 0 ? std::min(options.max_chunk, bound) : bound;
}

void throw_if_cancelled(const StepOptions& options) {
  if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
    throw Error(ErrorCode::kCancelled, "forward: cancelled");
  }
}

program::StepShape chunk_shape(const StepOptions& options, int tokens, bool last, int sample_mode) {
  program::StepShape shape;
  shape.tokens = tokens;
  shape.all_logits = options.all_logits;
  shape.logits = options.all_logits || last;
  shape.taps = options.hidden_taps;
  shape.sample_mode = sample_mode;
  return shape;
}

}  // namespace mimo::exec
