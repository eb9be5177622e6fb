// MXFP4 and block-scaled FP8 quantize / dequantize (rules in block_formats.hpp, docs/formats.md).
#include "quant/block_formats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>

#include "mimo/error.hpp"
#include "quant/codecs.hpp"

namespace mimo::quant {
namespace {

constexpr int kE2M1MaxExponent = 2;  // 6 = 1.5 * 2^2
constexpr int kE8M0Bias = 127;

void check_shape(const char* what, std::int64_t rows, std::int64_t cols) {
  if (rows < 0 || cols < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: shape [{}, {}] has a negative dimension", what, rows, cols));
  }
}

void check_mxfp4_cols(const char* what, std::int64_t cols) {
  if (cols % kMxfp4GroupSize != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: cols = {} is not a multiple of the MXFP4 group size {}", what,
                            cols, kMxfp4GroupSize));
  }
}

void check_blocks(const char* what, std::int64_t block_rows, std::int64_t block_cols) {
  if (block_rows <= 0 || block_cols <= 0) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: block size [{}, {}] must be positive",
                                                         what, block_rows, block_cols));
  }
}

[[noreturn]] void throw_non_finite(const char* what, std::int64_t row, std::int64_t col, float v) {
  throw Error(
      ErrorCode::kInvalidArgument,
      fmt::format("{}: input at row {} col {} is {}, expected a finite value", what, row, col, v));
}

// 2^e as a float for e in [-126, 127] (normal range), built from its bits.
float pow2_normal(int e) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(e + 127) << 23);
}

// OCP MX scale: shared exponent floor(log2(amax)) - emax(E2M1), clamped to E8M0's [-127, 127].
std::uint8_t mxfp4_scale_code(float amax) {
  if (amax == 0.0f) return kMxfp4ZeroGroupScale;
  const int shared_exp = std::clamp(std::ilogb(amax) - kE2M1MaxExponent, -kE8M0Bias, kE8M0Bias);
  return static_cast<std::uint8_t>(shared_exp + kE8M0Bias);
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

}  // namespace

void quantize_mxfp4(const float* src, std::int64_t rows, std::int64_t cols, std::uint8_t* codes,
                    std::uint8_t* scales) {
  check_shape("quantize_mxfp4", rows, cols);
  check_mxfp4_cols("quantize_mxfp4", cols);
  const std::int64_t groups = cols / kMxfp4GroupSize;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t g = 0; g < groups; ++g) {
      const float* x = src + r * cols + g * kMxfp4GroupSize;
      float amax = 0.0f;
      for (std::int64_t i = 0; i < kMxfp4GroupSize; ++i) {
        if (!std::isfinite(x[i]))
          throw_non_finite("quantize_mxfp4", r, g * kMxfp4GroupSize + i, x[i]);
        amax = std::max(amax, std::fabs(x[i]));
      }
      const std::uint8_t scale_code = mxfp4_scale_code(amax);
      scales[r * groups + g] = scale_code;
      // x * 2^-shared_exp is exact: the exponent lies in [-127, 127] and the product below 8.
      const float inv_scale = pow2_normal(kE8M0Bias - scale_code);
      std::uint8_t* out = codes + (r * cols + g * kMxfp4GroupSize) / 2;
      for (std::int64_t i = 0; i < kMxfp4GroupSize; i += 2) {
        const std::uint8_t lo = float_to_fp4_e2m1(x[i] * inv_scale);
        const std::uint8_t hi = float_to_fp4_e2m1(x[i + 1] * inv_scale);
        out[i / 2] = static_cast<std::uint8_t>(lo | (hi << 4));
      }
    }
  }
}

void decode_mxfp4_row(const std::uint8_t* codes_row, const std::uint8_t* scales_row,
                      std::int64_t cols, float* out) {
  check_shape("decode_mxfp4_row", 1, cols);
  check_mxfp4_cols("decode_mxfp4_row", cols);
  for (std::int64_t g = 0; g < cols / kMxfp4GroupSize; ++g) {
    const float scale = e8m0_value(scales_row[g]);
    const std::uint8_t* in = codes_row + g * (kMxfp4GroupSize / 2);
    float* o = out + g * kMxfp4GroupSize;
    for (std::int64_t j = 0; j < kMxfp4GroupSize / 2; ++j) {
      o[2 * j] = fp4_value(in[j] & 0xF) * scale;
      o[2 * j + 1] = fp4_value(in[j] >> 4) * scale;
    }
  }
}

void dequantize_mxfp4(const std::uint8_t* codes, const std::uint8_t* scales, std::int64_t rows,
                      std::int64_t cols, float* dst) {
  check_shape("dequantize_mxfp4", rows, cols);
  check_mxfp4_cols("dequantize_mxfp4", cols);
  for (std::int64_t r = 0; r < rows; ++r) {
    decode_mxfp4_row(codes + r * cols / 2, scales + r * (cols / kMxfp4GroupSize), cols,
                     dst + r * cols);
  }
}

void quantize_fp8_block(const float* src, std::int64_t rows, std::int64_t cols,
                        std::int64_t block_rows, std::int64_t block_cols, std::uint8_t* out,
                        float* scales) {
  check_shape("quantize_fp8_block", rows, cols);
  check_blocks("quantize_fp8_block", block_rows, block_cols);
  const std::int64_t scale_cols = ceil_div(cols, block_cols);
  for (std::int64_t br = 0; br < ceil_div(rows, block_rows); ++br) {
    const std::int64_t r0 = br * block_rows, r1 = std::min(rows, r0 + block_rows);
    for (std::int64_t bc = 0; bc < scale_cols; ++bc) {
      const std::int64_t c0 = bc * block_cols, c1 = std::min(cols, c0 + block_cols);
      float amax = 0.0f;
      for (std::int64_t r = r0; r < r1; ++r) {
        for (std::int64_t c = c0; c < c1; ++c) {
          const float v = src[r * cols + c];
          if (!std::isfinite(v)) throw_non_finite("quantize_fp8_block", r, c, v);
          amax = std::max(amax, std::fabs(v));
        }
      }
      const float scale = amax == 0.0f ? 1.0f : amax / kFp8E4M3Max;
      scales[br * scale_cols + bc] = scale;
      for (std::int64_t r = r0; r < r1; ++r) {
        for (std::int64_t c = c0; c < c1; ++c) {
          out[r * cols + c] = float_to_fp8_e4m3(src[r * cols + c] / scale);
        }
      }
    }
  }
}

void decode_fp8_block_row(std::int64_t row, const std::uint8_t* codes, const float* scales,
                          std::int64_t rows, std::int64_t cols, std::int64_t block_rows,
                          std::int64_t block_cols, float* out) {
  check_shape("decode_fp8_block_row", rows, cols);
  check_blocks("decode_fp8_block_row", block_rows, block_cols);
  if (row < 0 || row >= rows) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("decode_fp8_block_row: row {} outside [0, {})", row, rows));
  }
  const float* scale_row = scales + (row / block_rows) * ceil_div(cols, block_cols);
  const std::uint8_t* in = codes + row * cols;
  for (std::int64_t c0 = 0; c0 < cols; c0 += block_cols) {
    const float scale = scale_row[c0 / block_cols];
    const std::int64_t c1 = std::min(cols, c0 + block_cols);
    for (std::int64_t c = c0; c < c1; ++c) out[c] = fp8_e4m3_value(in[c]) * scale;
  }
}

void dequantize_fp8_block(const std::uint8_t* codes, const float* scales, std::int64_t rows,
                          std::int64_t cols, std::int64_t block_rows, std::int64_t block_cols,
                          float* dst) {
  for (std::int64_t r = 0; r < rows; ++r) {
    decode_fp8_block_row(r, codes, scales, rows, cols, block_rows, block_cols, dst + r * cols);
  }
}

}  // namespace mimo::quant
