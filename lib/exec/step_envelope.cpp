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

int chunk_tokens(const StepOptions& options, const ExecutorState& state) {
  return options.max_chunk > 0 ? std::min(options.max_chunk, state.max_step_tokens())
                               : state.max_step_tokens();
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
