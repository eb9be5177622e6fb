// Scalar codecs for the number formats checkpoints store: BF16, F16, FP8 (E4M3, E5M2),
// E8M0 scales and FP4 E2M1. Decoders are exact; encoders round to nearest, ties to even.
#pragma once

#include <cstdint>

namespace mimo::quant {

float bf16_to_float(std::uint16_t bits) noexcept;
std::uint16_t float_to_bf16(float value) noexcept;  // RNE; NaN stays NaN
float f16_to_float(std::uint16_t bits) noexcept;
std::uint16_t float_to_f16(float value) noexcept;   // RNE; overflow -> inf

float fp8_e4m3_to_float(std::uint8_t bits) noexcept;  // e4m3fn: 0x7F/0xFF are NaN, max 448
std::uint8_t float_to_fp8_e4m3(float value) noexcept; // RNE, saturates to +-448, NaN -> 0x7F
float fp8_e5m2_to_float(std::uint8_t bits) noexcept;
std::uint8_t float_to_fp8_e5m2(float value) noexcept; // RNE, saturates to +-57344

float e8m0_to_float(std::uint8_t bits) noexcept;  // 2^(bits-127); 0xFF is NaN
float fp4_e2m1_to_float(std::uint8_t code) noexcept;  // low 4 bits: +-{0,.5,1,1.5,2,3,4,6}
std::uint8_t float_to_fp4_e2m1(float value) noexcept; // RNE, saturates to +-6

}  // namespace mimo::quant
