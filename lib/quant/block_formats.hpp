// Block-scaled weight formats: MXFP4 (E2M1 codes with one E8M0 scale per 32 columns, OCP MX)
// and FP8 E4M3 with one F32 scale per block (DeepSeek / transformers "fp8", 128x128 blocks).
// Matrices are row-major [rows, cols] with cols the input dimension. Layouts: docs/formats.md.
#pragma once

#include <cstdint>

namespace mimo::quant {

inline constexpr std::int64_t kMxfp4GroupSize = 32;
// Scale stored for an all-zero MXFP4 group: 2^0 (any scale decodes zero codes to zero).
inline constexpr std::uint8_t kMxfp4ZeroGroupScale = 127;

// codes: rows * cols / 2 bytes, byte j of a row holds columns 2j (low nibble) and 2j+1 (high).
// scales: rows * cols / 32 E8M0 bytes. cols must be a multiple of 32; non-finite input throws.
void quantize_mxfp4(const float* src, std::int64_t rows, std::int64_t cols, std::uint8_t* codes,
                    std::uint8_t* scales);
void dequantize_mxfp4(const std::uint8_t* codes, const std::uint8_t* scales, std::int64_t rows,
                      std::int64_t cols, float* dst);
// One row: codes_row has cols/2 bytes, scales_row cols/32.
void decode_mxfp4_row(const std::uint8_t* codes_row, const std::uint8_t* scales_row,
                      std::int64_t cols, float* out);

// out: rows * cols E4M3 codes; scales: [ceil(rows/block_rows), ceil(cols/block_cols)] floats
// (weight_scale_inv),
// real = fp8 * scale. scale = amax(block) / 448 (1 for an all-zero block), code = RNE(x / scale).
// Edge blocks cover what is left of the matrix. Non-finite input or bad shapes throw.
void quantize_fp8_block(const float* src, std::int64_t rows, std::int64_t cols,
                        std::int64_t block_rows, std::int64_t block_cols, std::uint8_t* out,
                        float* scales);
void dequantize_fp8_block(const std::uint8_t* codes, const float* scales, std::int64_t rows,
                          std::int64_t cols, std::int64_t block_rows, std::int64_t block_cols,
                          float* dst);
// Decodes row `row` of the matrix whose codes start at `codes` (all rows * cols of them) and
// whose scale grid is `scales`; out receives cols floats.
void decode_fp8_block_row(std::int64_t row, const std::uint8_t* codes, const float* scales,
                          std::int64_t rows, std::int64_t cols, std::int64_t block_rows,
                          std::int64_t block_cols, float* out);

}  // namespace mimo::quant
