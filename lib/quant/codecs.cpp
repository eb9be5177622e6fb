// Scalar codecs: out-of-line decoders (the inline ones in codecs.hpp) and the RNE encoders.
#include "quant/codecs.hpp"

#include <bit>
#include <cstdint>

namespace mimo::quant {
namespace {

constexpr std::uint32_t kF32SignBit = 0x80000000u;
constexpr std::uint32_t kF32ExpMask = 0x7F800000u;

bool is_nan_bits(std::uint32_t abs_bits) {
  return abs_bits > kF32ExpMask;
}
bool is_inf_bits(std::uint32_t abs_bits) {
  return abs_bits == kF32ExpMask;
}

// Rounds a finite, non-negative float32 (given by its bits) to the nearest magnitude code of a
// minifloat with `mant_bits` mantissa bits and exponent `bias`, ties to even. Codes are ordered
// like magnitudes, so a carry out of the mantissa lands on the next exponent; the result may
// exceed the format's largest code and the caller decides between saturation and infinity.
std::uint32_t round_to_minifloat(std::uint32_t abs_bits, int mant_bits, int bias) {
  const int f32_exp_field = static_cast<int>(abs_bits >> 23);
  const std::uint32_t f32_mant = abs_bits & 0x7FFFFFu;
  // value = significand * 2^(exponent - 23)
  const std::uint32_t significand = f32_exp_field == 0 ? f32_mant : (f32_mant | 0x800000u);
  const int exponent = f32_exp_field == 0 ? -126 : f32_exp_field - 127;
  const int target_exp_field = exponent + bias;
  const int below_normal = target_exp_field >= 1 ? 0 : 1 - target_exp_field;
  const int shift = 23 - mant_bits + below_normal;
  // significand < 2^24, so from here on the value is below half the smallest subnormal.
  if (shift >= 25) return 0;
  std::uint32_t rounded = significand >> shift;
  const std::uint32_t remainder = significand & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1);
  if (remainder > half || (remainder == half && (rounded & 1u))) ++rounded;
  const int exp_base = below_normal ? 0 : target_exp_field - 1;
  return (static_cast<std::uint32_t>(exp_base) << mant_bits) + rounded;
}

}  // namespace

float bf16_to_float(std::uint16_t bits) noexcept {
  return bf16_value(bits);
}

std::uint16_t float_to_bf16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if (is_nan_bits(bits & ~kF32SignBit)) {
    // Keep sign and top payload bits; the quiet bit keeps a low-payload NaN from becoming inf.
    return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  }
  const std::uint32_t rounding_bias = 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding_bias) >> 16);
}

float f16_to_float(std::uint16_t bits) noexcept {
  return f16_value(bits);
}

std::uint16_t float_to_f16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t abs_bits = bits & ~kF32SignBit;
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  if (is_nan_bits(abs_bits)) {
    return static_cast<std::uint16_t>(sign | 0x7E00u | ((abs_bits >> 13) & 0x3FFu));
  }
  constexpr std::uint32_t kInf = 0x7C00u;
  if (is_inf_bits(abs_bits)) return static_cast<std::uint16_t>(sign | kInf);
  const std::uint32_t magnitude = round_to_minifloat(abs_bits, 10, 15);
  return static_cast<std::uint16_t>(sign | (magnitude >= kInf ? kInf : magnitude));
}

float fp8_e4m3_to_float(std::uint8_t bits) noexcept {
  return fp8_e4m3_value(bits);
}

std::uint8_t float_to_fp8_e4m3(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t abs_bits = bits & ~kF32SignBit;
  if (is_nan_bits(abs_bits)) return kFp8E4M3NaN;
  const std::uint8_t sign = (bits & kF32SignBit) ? 0x80 : 0x00;
  constexpr std::uint32_t kMaxCode = 0x7E;  // 448; the format has no infinity
  const std::uint32_t magnitude =
      is_inf_bits(abs_bits) ? kMaxCode : round_to_minifloat(abs_bits, 3, 7);
  return static_cast<std::uint8_t>(sign | (magnitude > kMaxCode ? kMaxCode : magnitude));
}

float fp8_e5m2_to_float(std::uint8_t bits) noexcept {
  return fp8_e5m2_value(bits);
}

std::uint8_t float_to_fp8_e5m2(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t abs_bits = bits & ~kF32SignBit;
  if (is_nan_bits(abs_bits)) return kFp8E5M2NaN;
  const std::uint8_t sign = (bits & kF32SignBit) ? 0x80 : 0x00;
  if (is_inf_bits(abs_bits)) return static_cast<std::uint8_t>(sign | 0x7C);
  constexpr std::uint32_t kMaxFiniteCode = 0x7B;  // 57344
  const std::uint32_t magnitude = round_to_minifloat(abs_bits, 2, 15);
  return static_cast<std::uint8_t>(sign |
                                   (magnitude > kMaxFiniteCode ? kMaxFiniteCode : magnitude));
}

float e8m0_to_float(std::uint8_t bits) noexcept {
  return e8m0_value(bits);
}

float fp4_e2m1_to_float(std::uint8_t code) noexcept {
  return fp4_value(code);
}

std::uint8_t float_to_fp4_e2m1(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t abs_bits = bits & ~kF32SignBit;
  if (is_nan_bits(abs_bits)) return 0;  // E2M1 has no NaN
  const std::uint8_t sign = (bits & kF32SignBit) ? 0x8 : 0x0;
  constexpr std::uint32_t kMaxCode = 0x7;  // 6.0
  const std::uint32_t magnitude =
      is_inf_bits(abs_bits) ? kMaxCode : round_to_minifloat(abs_bits, 1, 1);
  return static_cast<std::uint8_t>(sign | (magnitude > kMaxCode ? kMaxCode : magnitude));
}

}  // namespace mimo::quant
