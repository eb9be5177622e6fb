// Bulk BF16 / F16 <-> F32 conversion of contiguous arrays (loading and writing plain weights).
// Same rounding as the scalar codecs: RNE, NaN stays NaN, F16 overflow -> inf.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mimo::quant {

void bf16_to_float_array(const std::uint16_t* src, float* dst, std::size_t count) noexcept;
void float_to_bf16_array(const float* src, std::uint16_t* dst, std::size_t count) noexcept;
void f16_to_float_array(const std::uint16_t* src, float* dst, std::size_t count) noexcept;
void float_to_f16_array(const float* src, std::uint16_t* dst, std::size_t count) noexcept;

}  // namespace mimo::quant
