// A projection tile as row slices of its weights (see projection_tile.hpp).
#include "exec/projection_tile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "cpu/linear.hpp"
#include "exec/weight_slices.hpp"
#include "mimo/error.hpp"

namespace mimo::exec {

void projection_tile(cpu::ThreadPool& pool, const program::Op& op, int tile,
                     std::span<const ProjectionOutput> outputs, const float* x, int rows) {
  if (op.tiling.widths.empty() || tile >= op.tiling.count ||
      outputs.size() != op.tiling.widths.size()) {
    throw Error(ErrorCode::kInternal,
                fmt::format("CPU runner: op '{}' has no tile {}", program::name(op.kind), tile));
  }
  std::vector<float> part;
  for (const program::TileSlice& t : program::tile_slices(op, tile)) {
    const ProjectionOutput& out = outputs[t.output];
    const std::int64_t width = out.w->rows, count = t.end - t.begin;
    const model::LinearWeight slice = slice_rows(*out.w, t.begin, t.end);
    part.resize(std::size_t(rows) * count);
    cpu::linear(pool, slice, x, rows, part.data());
    for (int i = 0; i < rows; ++i) {
      std::copy_n(part.data() + i * count, count, out.y + i * width + t.begin);
    }
  }
}

}  // namespace mimo::exec
