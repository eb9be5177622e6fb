// Slices of a LinearWeight for the parallel executors: a row slice (output features; a view,
// like the row slices of a fused qkv_proj) and a column window (input features, for row-parallel
// o_proj / down_proj). A window is a view into the checkpoint when its first column starts a
// scale block of the stored format; otherwise its rows are decoded once into an owned F32 copy
// with cpu::decode_row, so either way its values equal the full weight's, bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "model/weights.hpp"

namespace mimo::exec {

// Rows [begin, end) of `w` as a LinearWeight view (row_offset moves, storage is shared).
model::LinearWeight slice_rows(const model::LinearWeight& w, std::int64_t begin, std::int64_t end);

// Columns [begin, end) of `w`: y = W[:, begin:end] x for x of end - begin features.
class ColumnWindow {
 public:
  // Throws mimo::Error(kInvalidArgument) for an empty or out-of-range window.
  ColumnWindow(const model::LinearWeight& w, std::int64_t begin, std::int64_t end);
  ColumnWindow(ColumnWindow&&) = default;
  ColumnWindow& operator=(ColumnWindow&&) = default;
  ColumnWindow(const ColumnWindow&) = delete;
  ColumnWindow& operator=(const ColumnWindow&) = delete;

  const model::LinearWeight& weight() const { return weight_; }
  bool is_view() const { return copy_.empty(); }  // false: decoded into an owned F32 copy

 private:
  model::LinearWeight weight_;
  std::vector<float> copy_;  // [rows, width] when not a view; weight_ points into it
};

}  // namespace mimo::exec
