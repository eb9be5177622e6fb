// One tile of a projection op (program::Op with tiling widths) on the CPU: output features
// [tile * rows, ...) of the concatenation of its outputs, each computed as a row slice of its
// weight. Each output element is one fixed-order dot product, so tiles give the whole op's bits.
#pragma once

#include <span>

#include "cpu/thread_pool.hpp"
#include "model/weights.hpp"
#include "program/step_program.hpp"

namespace mimo::exec {

// One output of a projection: y = w x, y of w->rows features a row.
struct ProjectionOutput {
  const model::LinearWeight* w;
  float* y;
};

// x: [rows, input features]; outputs in the order of op.tiling.widths. Throws
// mimo::Error(kInternal) for an op without tiles or a tile it does not have.
void projection_tile(cpu::ThreadPool& pool, const program::Op& op, int tile,
                     std::span<const ProjectionOutput> outputs, const float* x, int rows);

}  // namespace mimo::exec
