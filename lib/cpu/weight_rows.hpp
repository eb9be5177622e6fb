// Reading weights in their stored precision: one row of a LinearWeight decoded to floats at a
// time (never a whole dequantized matrix), and small vector parameters converted once.
#pragma once

#include <cstdint>
#include <vector>

#include "model/weights.hpp"

namespace mimo::cpu {

// Checks what decode_row relies on (pointers, strides, scale grid, format/dtype pairing);
// throws mimo::Error(kInvalidArgument) naming the weight.
void validate_linear(const model::LinearWeight& w);

// Scale `index` of a kFp8Block weight's grid (row-major, scale_cols a row), F32 or BF16.
float fp8_block_scale(const model::LinearWeight& w, std::int64_t index);

// out[0..cols) = row r (0 <= r < w.rows) of w, dequantized exactly as the reference does:
// fp8 value * block scale, fp4 value * 2^(e-127), bf16/f16 widened.
void decode_row(const model::LinearWeight& w, std::int64_t r, float* out);

// A vector parameter (F32, BF16 or F16) as floats; `expected_size` is checked.
std::vector<float> to_floats(const model::VectorWeight& v, std::int64_t expected_size);

}  // namespace mimo::cpu
