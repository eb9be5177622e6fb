// Scalar codecs for the number formats checkpoints store: BF16, F16, FP8 (E4M3, E5M2),
// E8M0 scales and FP4 E2M1. Decoders are exact; encoders round to nearest, ties to even.
// The inline decoders (table lookups / bit moves) are what hot loops call; the out-of-line
// functions below them are the same codecs behind a stable symbol. Rules: docs/formats.md.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace mimo::quant {

float bf16_to_float(std::uint16_t bits) noexcept;
std::uint16_t float_to_bf16(float value) noexcept;  // RNE; NaN stays NaN
float f16_to_float(std::uint16_t bits) noexcept;
std::uint16_t float_to_f16(float value) noexcept;  // RNE; overflow -> inf

float fp8_e4m3_to_float(std::uint8_t bits) noexcept;   // e4m3fn: 0x7F/0xFF are NaN, max 448
std::uint8_t float_to_fp8_e4m3(float value) noexcept;  // RNE, saturates to +-448, NaN -> 0x7F
float fp8_e5m2_to_float(std::uint8_t bits) noexcept;
std::uint8_t float_to_fp8_e5m2(float value) noexcept;  // RNE, saturates to +-57344

float e8m0_to_float(std::uint8_t bits) noexcept;       // 2^(bits-127); 0xFF is NaN
float fp4_e2m1_to_float(std::uint8_t code) noexcept;   // low 4 bits: +-{0,.5,1,1.5,2,3,4,6}
std::uint8_t float_to_fp4_e2m1(float value) noexcept;  // RNE, saturates to +-6

inline constexpr float kFp8E4M3Max = 448.0f;
inline constexpr float kFp8E5M2Max = 57344.0f;
inline constexpr float kFp4E2M1Max = 6.0f;
inline constexpr std::uint8_t kFp8E4M3NaN = 0x7F;
inline constexpr std::uint8_t kFp8E5M2NaN = 0x7E;
inline constexpr std::uint8_t kE8M0NaN = 0xFF;

namespace detail {

// 2^e by repeated exact scaling, usable in constant expressions.
constexpr float exact_pow2(int e) {
  float r = 1.0f;
  for (; e > 0; --e) r *= 2.0f;
  for (; e < 0; ++e) r *= 0.5f;
  return r;
}

// Magnitude of a minifloat with an implicit leading one for exp_field > 0.
constexpr float minifloat_magnitude(unsigned exp_field, unsigned mant, int mant_bits, int bias) {
  if (exp_field == 0) return static_cast<float>(mant) * exact_pow2(1 - bias - mant_bits);
  return static_cast<float>((1u << mant_bits) + mant) *
         exact_pow2(static_cast<int>(exp_field) - bias - mant_bits);
}

constexpr std::array<float, 256> make_fp8_e4m3_table() {
  std::array<float, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    const unsigned exp_field = (c >> 3) & 0xF, mant = c & 0x7;
    float v = (exp_field == 0xF && mant == 0x7) ? std::numeric_limits<float>::quiet_NaN()
                                                : minifloat_magnitude(exp_field, mant, 3, 7);
    t[c] = (c & 0x80) ? -v : v;
  }
  return t;
}

constexpr std::array<float, 256> make_fp8_e5m2_table() {
  std::array<float, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    const unsigned exp_field = (c >> 2) & 0x1F, mant = c & 0x3;
    float v = minifloat_magnitude(exp_field, mant, 2, 15);
    if (exp_field == 0x1F) {
      v = mant == 0 ? std::numeric_limits<float>::infinity()
                    : std::numeric_limits<float>::quiet_NaN();
    }
    t[c] = (c & 0x80) ? -v : v;
  }
  return t;
}

}  // namespace detail

inline constexpr std::array<float, 16> kFp4E2M1Values = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,
                                                         4.0f,  6.0f,  -0.0f, -0.5f, -1.0f, -1.5f,
                                                         -2.0f, -3.0f, -4.0f, -6.0f};
inline constexpr std::array<float, 256> kFp8E4M3Values = detail::make_fp8_e4m3_table();
inline constexpr std::array<float, 256> kFp8E5M2Values = detail::make_fp8_e5m2_table();

inline float fp4_value(std::uint8_t code) noexcept {
  return kFp4E2M1Values[code & 0xF];
}
inline float fp8_e4m3_value(std::uint8_t bits) noexcept {
  return kFp8E4M3Values[bits];
}
inline float fp8_e5m2_value(std::uint8_t bits) noexcept {
  return kFp8E5M2Values[bits];
}

inline float e8m0_value(std::uint8_t bits) noexcept {
  if (bits == kE8M0NaN) return std::numeric_limits<float>::quiet_NaN();
  // 2^-127 is a float32 subnormal: its only set bit is the mantissa's top bit.
  const std::uint32_t f32 = bits == 0 ? 0x00400000u : static_cast<std::uint32_t>(bits) << 23;
  return std::bit_cast<float>(f32);
}

inline float bf16_value(std::uint16_t bits) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

inline float f16_value(std::uint16_t bits) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exp_field = (bits >> 10) & 0x1Fu, mant = bits & 0x3FFu;
  std::uint32_t f32;
  if (exp_field == 0x1F) {
    f32 = sign | 0x7F800000u | (mant << 13);
  } else if (exp_field != 0) {
    f32 = sign | ((exp_field + 112u) << 23) | (mant << 13);
  } else {
    // Subnormal: mant * 2^-24, exact in float32 arithmetic without relying on denormals.
    const float magnitude = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(f32);
}

}  // namespace mimo::quant
