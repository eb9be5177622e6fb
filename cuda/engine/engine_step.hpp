// The persistent engine's step kernel: one block per queue of a DevicePlan, each task running
// its op's share (EngineOp) with the stream kernels' tile functions. See engine_runner.hpp.
#pragma once

#include "cuda/engine/device_plan.hpp"
#include "cuda/engine/engine_ops.hpp"
#include "cuda/kernels/ops.hpp"

namespace mimo::cuda::engine {

// One launch running every queue of `plan`; `ops` (device memory) indexed by the plan's op.
// paged: the kernel with the page ring (ops with ProjectionArgs::paged need it; others run on
// either kernel).
void launch_engine_step(const DevicePlan& plan, const EngineOp* ops, bool paged, Stream stream);

// Blocks of either step kernel that can be resident at once on the current device (every block
// of a launch must be: they wait on each other).
int resident_engine_blocks();

}  // namespace mimo::cuda::engine
