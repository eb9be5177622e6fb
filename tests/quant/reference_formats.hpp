// Float64 references for the quant tests: each format's value computed from its sign, exponent
// and mantissa fields by plain arithmetic, and round-to-nearest-even by comparing with the exact
// midpoints of neighbouring codes. Independent of lib/quant's tables and bit tricks.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace mimo::quant::test {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();

// Finite minifloat magnitude of the low (exp_bits + mant_bits) bits of `code`.
inline double minifloat_magnitude(std::uint32_t code, int exp_bits, int mant_bits, int bias) {
  const std::uint32_t mant = code & ((1u << mant_bits) - 1u);
  const std::uint32_t exp_field = (code >> mant_bits) & ((1u << exp_bits) - 1u);
  const double fraction = static_cast<double>(mant) / std::ldexp(1.0, mant_bits);
  if (exp_field == 0) return fraction * std::ldexp(1.0, 1 - bias);
  return (1.0 + fraction) * std::ldexp(1.0, static_cast<int>(exp_field) - bias);
}

inline double apply_sign(bool negative, double v) {
  return negative ? -v : v;
}

inline double ref_e4m3(std::uint8_t c) {
  if ((c & 0x7F) == 0x7F) return kNaN;
  return apply_sign(c & 0x80, minifloat_magnitude(c, 4, 3, 7));
}

inline double ref_e5m2(std::uint8_t c) {
  if (((c >> 2) & 0x1F) == 0x1F) return (c & 0x3) ? kNaN : apply_sign(c & 0x80, kInf);
  return apply_sign(c & 0x80, minifloat_magnitude(c, 5, 2, 15));
}

inline double ref_fp4(std::uint8_t c) {
  return apply_sign(c & 0x8, minifloat_magnitude(c, 2, 1, 1));
}

inline double ref_e8m0(std::uint8_t c) {
  return c == 0xFF ? kNaN : std::ldexp(1.0, c - 127);
}

inline double ref_bf16(std::uint16_t b) {
  if (((b >> 7) & 0xFF) == 0xFF) return (b & 0x7F) ? kNaN : apply_sign(b & 0x8000, kInf);
  return apply_sign(b & 0x8000, minifloat_magnitude(b, 8, 7, 127));
}

inline double ref_f16(std::uint16_t b) {
  if (((b >> 10) & 0x1F) == 0x1F) return (b & 0x3FF) ? kNaN : apply_sign(b & 0x8000, kInf);
  return apply_sign(b & 0x8000, minifloat_magnitude(b, 5, 10, 15));
}

// Magnitudes of codes 0..count-1, ascending with the code. For formats that overflow to
// infinity, the caller passes count up to the infinity code and replaces its entry by the power of
// two where the next exponent would start: IEEE rounds to infinity exactly as it would to that.
template <class Decode>
std::vector<double> magnitude_table(std::uint32_t count, Decode decode) {
  std::vector<double> t(count);
  for (std::uint32_t c = 0; c < count; ++c) t[c] = decode(c);
  return t;
}

// Code of the magnitude nearest to x >= 0, ties to the even code; above the last entry
// saturates to it.
inline std::uint32_t nearest_code(double x, const std::vector<double>& magnitudes) {
  std::uint32_t lo = 0, hi = static_cast<std::uint32_t>(magnitudes.size());
  while (lo < hi) {  // first code with magnitude >= x
    const std::uint32_t mid = (lo + hi) / 2;
    if (magnitudes[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return 0;
  if (lo == magnitudes.size()) return lo - 1;
  const double midpoint = (magnitudes[lo - 1] + magnitudes[lo]) / 2;  // exact in float64
  if (x < midpoint) return lo - 1;
  if (x > midpoint) return lo;
  return (lo % 2 == 0) ? lo : lo - 1;
}

// Random finite float: uniform sign and mantissa, exponent uniform in [min_exp, max_exp].
inline float random_float(std::mt19937_64& rng, int min_exp, int max_exp) {
  std::uniform_int_distribution<int> exp_dist(min_exp, max_exp);
  std::uniform_int_distribution<std::uint32_t> mant_dist(0, (1u << 23) - 1u);
  const double v = std::ldexp(1.0 + mant_dist(rng) / 8388608.0, exp_dist(rng));
  return static_cast<float>(rng() & 1 ? -v : v);
}

}  // namespace mimo::quant::test
