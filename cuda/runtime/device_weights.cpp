// Weight upload: compaction of row slices and scale grids, format checks, one copy per tensor.
#include "cuda/runtime/device_weights.hpp"

#include <fmt/format.h>

#include <cstring>
#include <limits>

#include "cuda/runtime/mxfp4_mma_layout.hpp"
#include "mimo/error.hpp"
#include "quant/codecs.hpp"

namespace mimo::cuda {
namespace {

using model::LinearWeight;
using model::WeightFormat;

[[noreturn]] void unsupported(const std::string& name, const std::string& what) {
  throw Error(ErrorCode::kUnsupported, fmt::format("GPU upload of '{}': {}", name, what));
}

void check_common(const LinearWeight& w, WeightFormat format, const char* format_name,
                  int chunk_values) {
  if (w.format != format) unsupported(w.name, fmt::format("expected a {} weight", format_name));
  if (w.data == nullptr || w.rows <= 0 || w.cols <= 0) unsupported(w.name, "empty or unbound");
  if (w.rows > std::numeric_limits<int>::max() || w.cols > std::numeric_limits<int>::max()) {
    unsupported(w.name, fmt::format("shape [{}, {}] exceeds int", w.rows, w.cols));
  }
  if (w.cols % chunk_values != 0) {
    unsupported(w.name, fmt::format("cols {} not a multiple of {}", w.cols, chunk_values));
  }
}

// Copies `rows` rows of `row_bytes` each, `stride` bytes apart in `src`, to `dst` packed.
void copy_rows(void* dst, const std::uint8_t* src, std::int64_t rows, std::int64_t row_bytes,
               std::int64_t stride) {
  if (stride == row_bytes) {
    copy_to_device(dst, src, static_cast<std::size_t>(rows * row_bytes));
    return;
  }
  std::vector<std::uint8_t> packed(static_cast<std::size_t>(rows * row_bytes));
  for (std::int64_t r = 0; r < rows; ++r) {
    std::memcpy(packed.data() + r * row_bytes, src + r * stride,
                static_cast<std::size_t>(row_bytes));
  }
  copy_to_device(dst, packed.data(), packed.size());
}

float scalar_as_float(const std::uint8_t* p, io::DType dtype) {
  std::uint16_t half_bits;
  switch (dtype) {
    case io::DType::kF32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case io::DType::kBF16:
      std::memcpy(&half_bits, p, 2);
      return quant::bf16_value(half_bits);
    case io::DType::kF16:
      std::memcpy(&half_bits, p, 2);
      return quant::f16_value(half_bits);
    default:
      throw Error(
          ErrorCode::kUnsupported,
          fmt::format("dtype {} where F32, BF16 or F16 was expected", io::dtype_name(dtype)));
  }
}

}  // namespace

Fp8Matrix upload_fp8(const LinearWeight& w, DeviceArena& arena) {
  check_common(w, WeightFormat::kFp8Block, "FP8 block-scaled", 16);
  if (w.block_cols % 16 != 0 || w.block_rows <= 0 || w.scales == nullptr) {
    unsupported(w.name, fmt::format("block {}x{}: block columns must be a multiple of 16",
                                    w.block_rows, w.block_cols));
  }
  Fp8Matrix m;
  m.rows = static_cast<int>(w.rows);
  m.cols = static_cast<int>(w.cols);
  m.block_rows = w.block_rows;
  m.block_cols = w.block_cols;
  void* codes = arena.allocate(static_cast<std::size_t>(w.rows * w.cols));
  copy_rows(codes, w.data + w.row_offset * w.row_stride_bytes, w.rows, w.cols, w.row_stride_bytes);
  m.codes = static_cast<const std::uint8_t*>(codes);

  const std::int64_t first = w.row_offset / w.block_rows;
  const std::int64_t last = (w.row_offset + w.rows - 1) / w.block_rows;
  const std::int64_t scale_cols = (w.cols + w.block_cols - 1) / w.block_cols;
  if (w.scale_cols < scale_cols) {
    unsupported(w.name,
                fmt::format("scale grid has {} columns, {} needed", w.scale_cols, scale_cols));
  }
  const std::size_t scale_size = io::dtype_size(w.scale_dtype);
  std::vector<float> scales(static_cast<std::size_t>((last - first + 1) * scale_cols));
  for (std::int64_t r = first; r <= last; ++r) {
    for (std::int64_t c = 0; c < scale_cols; ++c) {
      scales[(r - first) * scale_cols + c] =
          scalar_as_float(w.scales + (r * w.scale_cols + c) * scale_size, w.scale_dtype);
    }
  }
  m.scales = static_cast<const float*>(arena.upload(scales.data(), scales.size() * sizeof(float)));
  m.scale_cols = static_cast<int>(scale_cols);
  m.scale_row_offset = static_cast<int>(w.row_offset - first * w.block_rows);
  return m;
}

namespace {

void check_mxfp4(const LinearWeight& w) {
  check_common(w, WeightFormat::kMxfp4, "MXFP4", 32);
  if (w.block_cols != 32 || w.scales == nullptr || w.scale_cols < w.cols / 32) {
    unsupported(w.name,
                fmt::format("MXFP4 groups of {} (expected 32) or missing scales", w.block_cols));
  }
}

// Codes then scales of one MXFP4 weight, packed, at dst_codes / dst_scales.
void copy_mxfp4(const LinearWeight& w, void* dst_codes, void* dst_scales) {
  check_mxfp4(w);
  copy_rows(dst_codes, w.data + w.row_offset * w.row_stride_bytes, w.rows, w.cols / 2,
            w.row_stride_bytes);
  copy_rows(dst_scales, w.scales + w.row_offset * w.scale_cols, w.rows, w.cols / 32, w.scale_cols);
}

}  // namespace

Mxfp4Matrix upload_mxfp4(const LinearWeight& w, DeviceArena& arena) {
  Mxfp4Matrix m;
  void* codes = arena.allocate(static_cast<std::size_t>(w.rows * w.cols / 2));
  void* scales = arena.allocate(static_cast<std::size_t>(w.rows * w.cols / 32));
  copy_mxfp4(w, codes, scales);
  m.codes = static_cast<const std::uint8_t*>(codes);
  m.scales = static_cast<const std::uint8_t*>(scales);
  m.rows = static_cast<int>(w.rows);
  m.cols = static_cast<int>(w.cols);
  return m;
}

Mxfp4Stack upload_mxfp4_stack(const std::vector<const LinearWeight*>& experts, DeviceArena& arena) {
  if (experts.empty())
    throw Error(ErrorCode::kInvalidArgument, "GPU upload of an empty expert stack");
  const LinearWeight& first = *experts.front();
  const int rows = static_cast<int>(first.rows), cols = static_cast<int>(first.cols);
  const std::size_t code_bytes = static_cast<std::size_t>(mxfp4_mma_code_bytes(rows, cols));
  const std::size_t scale_bytes = static_cast<std::size_t>(mxfp4_mma_scale_bytes(rows, cols));
  auto* codes = static_cast<std::uint8_t*>(arena.allocate(code_bytes * experts.size()));
  auto* scales = static_cast<std::uint8_t*>(arena.allocate(scale_bytes * experts.size()));
  bool special_scales = false;
  for (std::size_t e = 0; e < experts.size(); ++e) {
    const LinearWeight& w = *experts[e];
    if (w.rows != first.rows || w.cols != first.cols) {
      unsupported(w.name, fmt::format("shape [{}, {}] differs from '{}' [{}, {}]", w.rows, w.cols,
                                      first.name, first.rows, first.cols));
    }
    check_mxfp4(w);
    const Mxfp4MmaRows tiled =
        repack_mxfp4_for_mma(w.data + w.row_offset * w.row_stride_bytes, w.row_stride_bytes,
                             w.scales + w.row_offset * w.scale_cols, w.scale_cols, rows, cols);
    copy_to_device(codes + e * code_bytes, tiled.codes.data(), code_bytes);
    copy_to_device(scales + e * scale_bytes, tiled.scales.data(), scale_bytes);
    for (int r = 0; r < rows; ++r) {
      const std::uint8_t* row = w.scales + (w.row_offset + r) * w.scale_cols;
      for (int c = 0; c < cols / 32; ++c) special_scales |= row[c] == 0x00 || row[c] == 0xFF;
    }
  }
  return Mxfp4Stack{codes, scales, static_cast<int>(experts.size()), rows, cols, special_scales};
}

Bf16Matrix upload_bf16(const LinearWeight& w, DeviceArena& arena) {
  check_common(w, WeightFormat::kBF16, "BF16", 8);
  void* values = arena.allocate(static_cast<std::size_t>(w.rows * w.cols * 2));
  copy_rows(values, w.data + w.row_offset * w.row_stride_bytes, w.rows, w.cols * 2,
            w.row_stride_bytes);
  return Bf16Matrix{static_cast<const std::uint16_t*>(values), static_cast<int>(w.rows),
                    static_cast<int>(w.cols)};
}

F32Matrix upload_f32(const LinearWeight& w, DeviceArena& arena) {
  io::DType dtype;
  switch (w.format) {
    case WeightFormat::kF32:
      dtype = io::DType::kF32;
      break;
    case WeightFormat::kBF16:
      dtype = io::DType::kBF16;
      break;
    case WeightFormat::kF16:
      dtype = io::DType::kF16;
      break;
    default:
      unsupported(w.name, "expected an F32, BF16 or F16 weight");
  }
  check_common(w, w.format, "float", 4);
  const std::size_t elem = io::dtype_size(dtype);
  std::vector<float> values(static_cast<std::size_t>(w.rows * w.cols));
  for (std::int64_t r = 0; r < w.rows; ++r) {
    const std::uint8_t* row = w.data + (w.row_offset + r) * w.row_stride_bytes;
    for (std::int64_t c = 0; c < w.cols; ++c) {
      values[r * w.cols + c] = scalar_as_float(row + c * elem, dtype);
    }
  }
  return F32Matrix{static_cast<const float*>(arena.upload(values.data(), values.size() * 4)),
                   static_cast<int>(w.rows), static_cast<int>(w.cols)};
}

const float* upload_vector(const model::VectorWeight& v, long long expected_size,
                           DeviceArena& arena) {
  if (v.data == nullptr || v.size != expected_size) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("GPU upload of '{}': {} elements, expected {}", v.name, v.size, expected_size));
  }
  const std::size_t elem = io::dtype_size(v.dtype);
  std::vector<float> values(static_cast<std::size_t>(v.size));
  for (std::int64_t i = 0; i < v.size; ++i) values[i] = scalar_as_float(v.data + i * elem, v.dtype);
  return static_cast<const float*>(arena.upload(values.data(), values.size() * sizeof(float)));
}

}  // namespace mimo::cuda
