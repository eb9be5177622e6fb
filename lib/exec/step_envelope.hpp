// What every executor does around the model's math, written once: validating a step before
// anything changes, cutting it into chunks, checking cancellation, undoing a failed step, and
// the step program each chunk runs (program::StepShape from the step's options).
#pragma once

#include <cstdint>
#include <span>

#include "exec/executor.hpp"
#include "model/config.hpp"
#include "program/step_program.hpp"

namespace mimo::exec {

// Throws kInvalidArgument (no tokens, an id outside the vocabulary, a tap that is no layer) or
// kOutOfRange (the context would overflow) before the state is touched.
// Throws kInvalidArgument when `limits` are out of range (below 1, chunks above
// kMaxChunkTokens), naming `what` (the class sizing a state) and the field.
void validate_limits(const StateLimits& limits, const char* what);
void validate_step(const model::ModelConfig& config, const ExecutorState& state,
                   std::span<const std::int32_t> tokens, const StepOptions& options);

// Tokens per chunk: options.max_chunk capped by the state's max_step_tokens when every row's
// logits are wanted (all_logits), else by its max_chunk_tokens (a prompt's chunks).
int chunk_tokens(const StepOptions& options, const ExecutorState& state);

// Throws mimo::Error(kCancelled) when the step's cancel flag is set.
void throw_if_cancelled(const StepOptions& options);

// The program shape of a chunk of `tokens` tokens; `last`: the step's final chunk (the one
// whose last row's logits are returned when all_logits is off).
program::StepShape chunk_shape(const StepOptions& options, int tokens, bool last,
                               int sample_mode = 0);

// Runs run_chunk(begin, n, last) over [0, total) in chunks of `chunk` tokens; when anything
// throws, calls undo() (which must not throw) and rethrows.
template <class RunChunk, class Undo>
void run_chunks(std::int64_t total, int chunk, RunChunk&& run_chunk, Undo&& undo) {
  try {
    for (std::int64_t begin = 0; begin < total; begin += chunk) {
      const std::int64_t n = total - begin < chunk ? total - begin : chunk;
      run_chunk(begin, static_cast<int>(n), begin + n == total);
    }
  } catch (...) {
    undo();
    throw;
  }
}

}  // namespace mimo::exec
