// AVX2 forms of the BF16, FP8 (E4M3) and MXFP4 row decoders, chosen at run time where the CPU has
// AVX2 (the library itself is built for baseline x86-64). Each gives the same bits as the scalar
// table decoder: the value is rebuilt from its fields exactly, then multiplied by the same scale.
#pragma once

#include <cstdint>

#include "model/weights.hpp"

namespace mimo::cpu::avx2 {

// Whether this CPU runs AVX2 and the functions below (and dot_avx2.hpp's) may be called.
bool available();
// Whether the CPU kernels use them: available(), unless MIMO_CPU_AVX2=0 keeps the scalar forms
// (the same bits; for A/B measurements).
bool enabled();

// As decode_row for an kFp8Block weight: out[0..cols) = row `stored_row` (its bytes at `row`).
// Needs available(). Falls back to the table per 8 values for NaN codes, and to the table for
// the whole row while the thread flushes denormal inputs to zero (DAZ), which the exact
// rebuilding of subnormal codes relies on not doing.
void decode_fp8_block(const model::LinearWeight& w, std::int64_t stored_row,
                      const std::uint8_t* row, float* out);

// As decode_row for a kBF16 weight: out[0..cols) = the row's values widened. Needs available().
void decode_bf16(const std::uint8_t* row, std::int64_t cols, float* out);

// As decode_row for an kMxfp4 weight. Needs available().
void decode_mxfp4(const model::LinearWeight& w, std::int64_t stored_row, const std::uint8_t* row,
                  float* out);

}  // namespace mimo::cpu::avx2
