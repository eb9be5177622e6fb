// LinearWeight::stored_bytes: what one pass over a (possibly sliced) weight reads.
#include "model/weights.hpp"

namespace mimo::model {

std::int64_t LinearWeight::stored_bytes() const {
  std::int64_t values = rows * row_stride_bytes;
  switch (format) {
    case WeightFormat::kFp8Block: {
      if (rows == 0) return values;
      // Scale rows overlapping this slice (a fused qkv slice shares its boundary blocks).
      std::int64_t first = row_offset / block_rows;
      std::int64_t last = (row_offset + rows - 1) / block_rows;
      return values + (last - first + 1) * scale_cols *
                          static_cast<std::int64_t>(io::dtype_size(scale_dtype));
    }
    case WeightFormat::kMxfp4:
      return values + rows * scale_cols;  // one E8M0 byte per 32 inputs
    default:
      return values;
  }
}

}  // namespace mimo::model
