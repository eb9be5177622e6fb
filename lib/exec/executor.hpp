// The seam between a Session and the hardware that runs the model: an Executor runs forward
// steps over per-session state (the KV caches). The CPU reference (cpu_executor) and the CUDA
// backend implement it; Sessions and speculators only talk to this interface.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "cpu/forward.hpp"

namespace mimo::exec {

using StepOptions = cpu::ForwardOptions;
using StepOutput = cpu::ForwardOutput;

// Per-session state of an executor: its KV caches and position.
class ExecutorState {
 public:
  virtual ~ExecutorState() = default;
  virtual std::int64_t length() const = 0;  // tokens stored = the next position
  // Whether truncate(new_length) can be honoured exactly (sliding rings forget old keys).
  virtual bool can_truncate(std::int64_t new_length) const = 0;
  virtual void truncate(std::int64_t new_length) = 0;
  virtual std::unique_ptr<ExecutorState> clone() const = 0;  // deep copy (Session::fork)
};

class Executor {
 public:
  virtual ~Executor() = default;
  // max_context / max_step_tokens as in ModelOptions.
  virtual std::unique_ptr<ExecutorState> new_state(std::int64_t max_context,
                                                   int max_step_tokens) const = 0;
  // Runs `tokens` at positions state.length() ... and appends them (see cpu::Forward::run for
  // the contract: validation before any change, cancellation restores the state exactly).
  // Concurrent calls on different states are allowed; the executor serialises as it needs.
  virtual StepOutput run(ExecutorState& state, std::span<const std::int32_t> tokens,
                         const StepOptions& options) const = 0;
  virtual std::string device_name() const = 0;
};

}  // namespace mimo::exec
