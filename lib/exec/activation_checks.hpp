// The debug check of ModelOptions::check_activations: after each op of the CPU forward, its
// output is scanned for NaN / infinity, so a non-finite result is traced to the first layer and
// op that produced it rather than only seen in the logits.
#pragma once

#include "exec/cpu_model.hpp"
#include "exec/cpu_runner.hpp"
#include "program/step_program.hpp"

namespace mimo::exec {

// Throws Error(kNonFinite) when what `op` wrote for the chunk `io` (in `b`, or io.logits) holds
// a NaN or an infinity, naming the layer, the op and the token's context position, e.g.
// "layer 2 (experts) produced NaN at context position 5".
void check_op_output(const program::Op& op, const CpuModel& model, const CpuBuffers& b,
                     const ChunkIo& io);

}  // namespace mimo::exec
