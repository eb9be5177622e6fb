// Bulk BF16 / F16 <-> F32 conversion: plain loops over the scalar codecs, left to vectorize.
#include "quant/array_convert.hpp"

#include "quant/codecs.hpp"

namespace mimo::quant {

void bf16_to_float_array(const std::uint16_t* src, float* dst, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) dst[i] = bf16_value(src[i]);
}

void float_to_bf16_array(const float* src, std::uint16_t* dst, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) dst[i] = float_to_bf16(src[i]);
}

void f16_to_float_array(const std::uint16_t* src, float* dst, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) dst[i] = f16_value(src[i]);
}

void float_to_f16_array(const float* src, std::uint16_t* dst, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) dst[i] = float_to_f16(src[i]);
}

}  // namespace mimo::quant
