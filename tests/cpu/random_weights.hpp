// Test helpers: random weights in every stored format, owned in memory, together with their
// exact values in float64 decoded independently of the library's decoders.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "model/weights.hpp"

namespace mimo::cpu::testing {

using Rng = std::mt19937_64;

// Uniform in [-1, 1) excluding a small band around zero (tests never feed zeros).
float random_value(Rng& rng);
std::vector<float> random_vector(Rng& rng, std::size_t n, float scale = 1.0f);

struct OwnedLinear {
  model::LinearWeight weight;  // points into data / scales below
  std::vector<std::uint8_t> data, scales;
  std::vector<double> exact;  // [rows, cols] dequantized values
};

// A [rows, cols] weight of typical magnitude `scale`, stored with `extra_rows` unused rows
// before it (row_offset) to exercise slices of fused tensors. FP8 uses 128x128 blocks (F32
// scales, or BF16 when bf16_scales), MXFP4 groups of 32.
std::unique_ptr<OwnedLinear> make_linear(model::WeightFormat format, std::int64_t rows,
                                         std::int64_t cols, Rng& rng, float scale = 1.0f,
                                         std::int64_t extra_rows = 0, bool bf16_scales = false,
                                         int fp8_block = 128);

struct OwnedVector {
  model::VectorWeight weight;
  std::vector<std::uint8_t> data;
  std::vector<double> exact;
};
// BF16 vector of values around `center` +- spread.
std::unique_ptr<OwnedVector> make_vector(std::int64_t size, Rng& rng, float center, float spread);

// Independent float64 decoders of the storage formats.
double exact_bf16(std::uint16_t bits);
double exact_f16(std::uint16_t bits);
double exact_fp8_e4m3(std::uint8_t bits);
double exact_fp4(std::uint8_t code);
double exact_e8m0(std::uint8_t bits);

}  // namespace mimo::cpu::testing
