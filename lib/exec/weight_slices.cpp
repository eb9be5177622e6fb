// Row slices and column windows of stored-precision weights.
#include "exec/weight_slices.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cpu/weight_rows.hpp"
#include "mimo/error.hpp"

namespace mimo::exec {
namespace {

using model::WeightFormat;

void check_range(const model::LinearWeight& w, const char* what, std::int64_t begin,
                 std::int64_t end, std::int64_t limit) {
  if (begin < 0 || end > limit || begin >= end) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("weight '{}': {} [{}, {}) is empty or outside [0, {})", w.name, what,
                            begin, end, limit));
  }
}

std::int64_t scale_bytes(const model::LinearWeight& w) {
  return w.scale_dtype == io::DType::kBF16 ? 2 : 4;
}

// Offsets data / scales so that column 0 of the view is column `begin`, when the format allows.
bool make_view(model::LinearWeight& v, std::int64_t begin, std::int64_t width) {
  switch (v.format) {
    case WeightFormat::kF32:
      v.data += 4 * begin;
      break;
    case WeightFormat::kBF16:
    case WeightFormat::kF16:
      v.data += 2 * begin;
      break;
    case WeightFormat::kFp8Block:
      if (begin % v.block_cols != 0) return false;
      v.data += begin;
      v.scales += (begin / v.block_cols) * scale_bytes(v);
      break;
    case WeightFormat::kMxfp4:
      if (begin % v.block_cols != 0 || width % 2 != 0) return false;
      v.data += begin / 2;
      v.scales += begin / v.block_cols;
      break;
  }
  v.cols = width;
  return true;
}

}  // namespace

model::LinearWeight slice_rows(const model::LinearWeight& w, std::int64_t begin, std::int64_t end) {
  check_range(w, "row slice", begin, end, w.rows);
  model::LinearWeight s = w;
  s.row_offset += begin;
  s.rows = end - begin;
  return s;
}

ColumnWindow::ColumnWindow(const model::LinearWeight& w, std::int64_t begin, std::int64_t end) {
  check_range(w, "column window", begin, end, w.cols);
  cpu::validate_linear(w);
  const std::int64_t width = end - begin;
  weight_ = w;
  if (make_view(weight_, begin, width)) return;
  // The window cuts through a scale block: decode the rows once, exactly as linear() would.
  copy_.resize(w.rows * width);
  std::vector<float> row(w.cols);
  for (std::int64_t r = 0; r < w.rows; ++r) {
    cpu::decode_row(w, r, row.data());
    std::copy(row.begin() + begin, row.begin() + end, copy_.begin() + r * width);
  }
  weight_ = model::LinearWeight{};
  weight_.name = w.name;
  weight_.format = WeightFormat::kF32;
  weight_.rows = w.rows;
  weight_.cols = width;
  weight_.data = reinterpret_cast<const std::uint8_t*>(copy_.data());
  weight_.row_stride_bytes = 4 * width;
}

}  // namespace mimo::exec
