// mimo-bench --draft-projection on the device: the MiMo-V2.5-Pro-shaped random drafter
// (draft_projection.hpp) uploaded next to the benchmark's target, its block pass and context
// update timed, and the target's verify step of a block with the drafter's taps and greedy rows
// decided on the device, and its decode-1 step with a greedy token, timed the way mimo-bench
// times steps (graph replay, median of `steps` after two warm-up runs). No CUDA types here.
#pragma once

#include <string>

#include "exec/executor.hpp"
#include "model/config.hpp"

namespace mimo::cuda {
class GpuExecutor;
}

namespace mimo::bench {

// `state` holds the benchmark's prompt; its length is the context, unchanged on return (every
// timed target step is rolled back). The drafter's context gets as many random feature rows.
// Returns format_projection's text.
std::string run_draft_projection(const cuda::GpuExecutor& gpu, exec::ExecutorState& state,
                                 const model::ModelConfig& config, int steps);

}  // namespace mimo::bench
