// Row decoders for every WeightFormat. The format switch runs once per row; the loops inside
// are branch-free table lookups and multiplies over contiguous memory.
#include "cpu/weight_rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "cpu/weight_rows_avx2.hpp"
#include "mimo/error.hpp"
#include "quant/codecs.hpp"

namespace mimo::cpu {
namespace {

using model::LinearWeight;
using model::WeightFormat;

std::uint16_t load_u16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// A 16-bit load per value (little-endian, as the bytes are stored) rather than two byte loads:
// the compiler turns this loop into vector unpacks, 1.6x the rate of the byte form.
void decode_bf16(const std::uint8_t* row, std::int64_t cols, float* out) {
  for (std::int64_t c = 0; c < cols; ++c) {
    const std::uint32_t f32 = static_cast<std::uint32_t>(load_u16(row + 2 * c)) << 16;
    std::memcpy(&out[c], &f32, sizeof f32);
  }
}

void decode_f16(const std::uint8_t* row, std::int64_t cols, float* out) {
  for (std::int64_t c = 0; c < cols; ++c) out[c] = quant::f16_value(load_u16(row + 2 * c));
}

void decode_fp8_block(const LinearWeight& w, std::int64_t stored_row, const std::uint8_t* row,
                      float* out) {
  const std::int64_t scale_row = (stored_row / w.block_rows) * w.scale_cols;
  for (std::int64_t c0 = 0; c0 < w.cols; c0 += w.block_cols) {
    const float scale = fp8_block_scale(w, scale_row + c0 / w.block_cols);
    const std::int64_t c1 = std::min<std::int64_t>(w.cols, c0 + w.block_cols);
    for (std::int64_t c = c0; c < c1; ++c) out[c] = quant::kFp8E4M3Values[row[c]] * scale;
  }
}

// Both FP4 values of every byte (low nibble first): one lookup per byte instead of two, 1.7x the
// decode rate of the nibble table; each output is still the table value times the scale.
struct Fp4Pair {
  float low, high;
};

const std::array<Fp4Pair, 256> kFp4Pairs = [] {
  std::array<Fp4Pair, 256> pairs{};
  for (int b = 0; b < 256; ++b) {
    pairs[b] = {quant::kFp4E2M1Values[b & 0xF], quant::kFp4E2M1Values[b >> 4]};
  }
  return pairs;
}();

void decode_mxfp4(const LinearWeight& w, std::int64_t stored_row, const std::uint8_t* row,
                  float* out) {
  const std::uint8_t* scales = w.scales + stored_row * w.scale_cols;
  for (std::int64_t c0 = 0; c0 < w.cols; c0 += w.block_cols) {
    const float scale = quant::e8m0_value(scales[c0 / w.block_cols]);
    const std::int64_t c1 = std::min<std::int64_t>(w.cols, c0 + w.block_cols);
    for (std::int64_t c = c0; c < c1; c += 2) {
      const Fp4Pair pair = kFp4Pairs[row[c / 2]];
      out[c] = pair.low * scale;
      out[c + 1] = pair.high * scale;
    }
  }
}

[[noreturn]] void bad_weight(const LinearWeight& w, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, fmt::format("weight '{}': {}", w.name, what));
}

}  // namespace

float fp8_block_scale(const LinearWeight& w, std::int64_t index) {
  if (w.scale_dtype == io::DType::kBF16) return quant::bf16_value(load_u16(w.scales + 2 * index));
  float s;
  std::memcpy(&s, w.scales + 4 * index, sizeof s);
  return s;
}

void validate_linear(const LinearWeight& w) {
  if (w.rows <= 0 || w.cols <= 0 || w.data == nullptr || w.row_offset < 0) {
    bad_weight(w, fmt::format("empty or unbound (rows {}, cols {})", w.rows, w.cols));
  }
  std::int64_t min_stride = 0;
  switch (w.format) {
    case WeightFormat::kF32:
      min_stride = 4 * w.cols;
      break;
    case WeightFormat::kBF16:
    case WeightFormat::kF16:
      min_stride = 2 * w.cols;
      break;
    case WeightFormat::kFp8Block:
      min_stride = w.cols;
      break;
    case WeightFormat::kMxfp4:
      min_stride = w.cols / 2;
      break;
  }
  if (w.row_stride_bytes < min_stride) {
    bad_weight(w, fmt::format("row stride {} bytes, expected at least {}", w.row_stride_bytes,
                              min_stride));
  }
  if (w.format == WeightFormat::kFp8Block) {
    if (w.scales == nullptr || w.block_rows <= 0 || w.block_cols <= 0 ||
        w.scale_cols < (w.cols + w.block_cols - 1) / w.block_cols ||
        (w.scale_dtype != io::DType::kF32 && w.scale_dtype != io::DType::kBF16)) {
      bad_weight(w, "fp8 block weight needs an F32/BF16 scale grid covering every block");
    }
  }
  if (w.format == WeightFormat::kMxfp4) {
    if (w.scales == nullptr || w.block_cols <= 0 || w.block_cols % 2 != 0 || w.cols % 2 != 0 ||
        w.scale_cols < (w.cols + w.block_cols - 1) / w.block_cols) {
      bad_weight(w, "mxfp4 weight needs even cols, even group size and one E8M0 scale per group");
    }
  }
}

void decode_row(const LinearWeight& w, std::int64_t r, float* out) {
  const std::int64_t stored_row = w.row_offset + r;
  const std::uint8_t* row = w.data + stored_row * w.row_stride_bytes;
  switch (w.format) {
    case WeightFormat::kF32:
      std::memcpy(out, row, sizeof(float) * w.cols);
      return;
    case WeightFormat::kBF16:
      if (avx2::enabled()) return avx2::decode_bf16(row, w.cols, out);
      decode_bf16(row, w.cols, out);
      return;
    case WeightFormat::kF16:
      decode_f16(row, w.cols, out);
      return;
    case WeightFormat::kFp8Block:
      if (avx2::enabled()) return avx2::decode_fp8_block(w, stored_row, row, out);
      decode_fp8_block(w, stored_row, row, out);
      return;
    case WeightFormat::kMxfp4:
      if (avx2::enabled()) return avx2::decode_mxfp4(w, stored_row, row, out);
      decode_mxfp4(w, stored_row, row, out);
      return;
  }
}

std::vector<float> to_floats(const model::VectorWeight& v, std::int64_t expected_size) {
  if (v.data == nullptr || v.size != expected_size) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("vector '{}': {} elements, expected {}",
                                                         v.name, v.size, expected_size));
  }
  std::vector<float> out(v.size);
  for (std::int64_t i = 0; i < v.size; ++i) {
    switch (v.dtype) {
      case io::DType::kF32:
        std::memcpy(&out[i], v.data + 4 * i, 4);
        break;
      case io::DType::kBF16:
        out[i] = quant::bf16_value(load_u16(v.data + 2 * i));
        break;
      case io::DType::kF16:
        out[i] = quant::f16_value(load_u16(v.data + 2 * i));
        break;
      default:
        throw Error(ErrorCode::kUnsupported,
                    fmt::format("vector '{}': dtype {} (expected F32, BF16 or F16)", v.name,
                                io::dtype_name(v.dtype)));
    }
  }
  return out;
}

}  // namespace mimo::cpu
