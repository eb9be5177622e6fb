// The persistent engine's scheduling cost, measured without any op: a plan's tasks run with empty
// bodies (waits, barriers, signals only), against the same number of empty kernel launches in
// stream order with programmatic dependent launch - what a step of the stream runner pays at its
// op boundaries. mimo-bench --engine-probe times both (docs/cuda.md, "The persistent engine").
#pragma once

#include "cuda/engine/device_plan.hpp"
#include "cuda/kernels/ops.hpp"

namespace mimo::cuda::engine {

inline constexpr int kProbeThreads = 512;

// One launch of `plan.queue_count()` blocks running every queue with empty task bodies.
void run_probe(const DevicePlan& plan, Stream stream);

// `launches` empty kernels of `blocks` blocks each, one after another on `stream`.
void run_launch_chain(int launches, int blocks, Stream stream);

}  // namespace mimo::cuda::engine
