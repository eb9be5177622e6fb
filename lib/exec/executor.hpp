// The seam between a Session and the hardware that runs the model: an Executor runs forward
// steps over per-session state (the KV caches). The CPU reference (cpu_executor) and the CUDA
// backend implement it; Sessions and speculators only talk to this interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "exec/device_taps.hpp"
#include "exec/sample_request.hpp"
#include "mimo/sampler.hpp"

namespace mimo::exec {

struct StepOptions {
  bool all_logits = false;  // logits of every token, else only of the last one
  // Decoder layers whose output residual stream is returned per token, in this order. The last
  // layer's entry is taken after the final RMSNorm (transformers' hidden_states convention).
  std::vector<int> hidden_taps;
  // Leave the taps in device memory (StepOutput::device_taps) when the executor can (the GPU
  // executor, for a step that runs as one chunk); otherwise they fill `hidden` as usual.
  bool taps_on_device = false;
  // Checked between layers and chunks; when set the call throws mimo::Error(kCancelled) and
  // leaves the state exactly as it was before the call.
  const std::atomic<bool>* cancel = nullptr;
  // Tokens per chunk (<= 0 or larger than the state's bound: the bound, which is the state's
  // max_chunk_tokens, or its max_step_tokens for all_logits steps).
  int max_chunk = 0;
  // Also sample the next token from the last row's logits on the executor's device, when it can
  // (can_sample()) and all_logits is off. Executors that cannot ignore it.
  const SampleRequest* sample = nullptr;
  // With all_logits: sample row i with (*sample_rows)[i], one request per token (a verify block:
  // each row's penalty window includes the drafts before it). Same device condition as `sample`.
  const std::vector<SampleRequest>* sample_rows = nullptr;
};

struct StepOutput {
  std::vector<float> logits;  // [rows, vocab]: rows = T if all_logits, else 1
  std::vector<float> hidden;  // [T, taps, hidden_size]; empty when device_taps holds them
  DeviceTaps device_taps;     // data set: the taps stayed on the device (taps_on_device)
  // Set when the step sampled on the device: the same token, log-prob and top log-probs as
  // mimo::Sampler::sample on these logits with that generator state; `logits` is then empty
  // (fetch_logits() brings them when needed). Empty when the device declined (a NaN or
  // +infinity logit, every token banned): the logits are returned and the host sampler decides,
  // with its exact error messages.
  std::optional<SampleResult> sampled;
  // For sample_rows: one result per row when the device sampled every row (logits then empty);
  // empty otherwise, with the logits returned.
  std::vector<SampleResult> sampled_rows;
};

// The most tokens one chunk may hold on any executor (the CUDA kernels lay a chunk's tokens
// along a grid dimension of at most 65535 blocks).
inline constexpr int kMaxChunkTokens = 65535;

// What a session's state is sized for (ModelOptions' max_context, max_step_tokens and
// prefill_chunk_tokens). Steps of every row's logits (verify blocks) run in chunks of at most
// max_step_tokens, so logits buffers hold that many rows; steps of the last row's logits only
// (prompts) run in chunks of up to max_chunk_tokens(), which sizes the sliding rings (window +
// max_chunk_tokens() - 1 slots) and the activations of one chunk.
struct StateLimits {
  std::int64_t max_context = 1;
  int max_step_tokens = 1;       // >= 1
  int prefill_chunk_tokens = 0;  // 0: max_step_tokens
  int max_chunk_tokens() const {
    return prefill_chunk_tokens > max_step_tokens ? prefill_chunk_tokens : max_step_tokens;
  }
};

// Per-session state of an executor: its KV caches and position.
class ExecutorState {
 public:
  virtual ~ExecutorState() = default;
  virtual std::int64_t length() const = 0;  // tokens stored = the next position
  virtual std::int64_t max_context() const = 0;
  // Most tokens of one chunk whose every row returns logits (StepOptions::all_logits).
  virtual int max_step_tokens() const = 0;
  // Most tokens one chunk of any step may append (>= max_step_tokens).
  virtual int max_chunk_tokens() const = 0;
  // Whether truncate(new_length) can be honoured exactly (sliding rings forget old keys).
  virtual bool can_truncate(std::int64_t new_length) const = 0;
  virtual void truncate(std::int64_t new_length) = 0;
  virtual std::unique_ptr<ExecutorState> clone() const = 0;  // deep copy (Session::fork)
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Throws kInvalidArgument for limits below 1 (or beyond what the executor can hold).
  virtual std::unique_ptr<ExecutorState> new_state(const StateLimits& limits) const = 0;
  // Runs `tokens` at positions state.length() ... and appends them, in chunks of at most
  // chunk_tokens(options, state) (exec/step_envelope.hpp: validation before any change -
  // kInvalidArgument for bad ids / taps / no tokens, kOutOfRange past the context -, cancellation
  // and any failure restore the state exactly). Concurrent calls on different states are allowed;
  // the executor serialises as it needs.
  virtual StepOutput run(ExecutorState& state, std::span<const std::int32_t> tokens,
                         const StepOptions& options) const = 0;
  virtual std::string device_name() const = 0;
  // Whether run() honours StepOptions::sample.
  virtual bool can_sample() const { return false; }
  // Row `row` of the logits of the state's last step, when that step sampled on the device and
  // returned none (row 0 = the only row of a last-row step). Valid until the state's next run.
  virtual std::vector<float> fetch_logits(const ExecutorState& state, int row) const;
};

}  // namespace mimo::exec
