// BF16 and F16: exhaustive decode of all 65536 patterns against float64 field arithmetic,
// encode(decode(b)) == b, RNE encode of random floats against a float64 nearest-even search,
// ties and overflow at the top of the range, NaN handling, and the bulk array conversions.
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "quant/array_convert.hpp"
#include "quant/codecs.hpp"
#include "reference_formats.hpp"
#include "support/catch.hpp"

using namespace mimo::quant;
using namespace mimo::quant::test;

namespace {

struct HalfCase {
  const char* name;
  std::uint16_t inf_code;
  double (*reference)(std::uint16_t);
  float (*decode)(std::uint16_t);
  std::uint16_t (*encode)(float);
  int min_exp, max_exp;  // exponent range of interesting random inputs
};

const HalfCase kCases[] = {
    {"bf16", 0x7F80, ref_bf16, bf16_to_float, float_to_bf16, -140, 127},
    {"f16", 0x7C00, ref_f16, f16_to_float, float_to_f16, -27, 17},
};

// Finite magnitudes plus the overflow threshold's power of two standing for infinity.
std::vector<double> rounding_table(const HalfCase& h) {
  auto t = magnitude_table(
      h.inf_code + 1u, [&](std::uint32_t c) { return h.reference(static_cast<std::uint16_t>(c)); });
  const double max_finite = t[h.inf_code - 1u];
  t.back() = std::ldexp(1.0, std::ilogb(max_finite) + 1);
  return t;
}

}  // namespace

TEST_CASE("bf16 / f16: all 65536 patterns decode to the field formula") {
  for (const auto& h : kCases) {
    INFO(h.name);
    int mismatches = 0, nans = 0;
    for (std::uint32_t b = 0; b < 65536; ++b) {
      const auto bits = static_cast<std::uint16_t>(b);
      const double want = h.reference(bits);
      const float got = h.decode(bits);
      nans += std::isnan(got);
      const bool same = std::isnan(want) ? std::isnan(got)
                                         : (static_cast<double>(got) == want &&
                                            std::signbit(got) == std::signbit(want));
      mismatches += !same;
    }
    CHECK(mismatches == 0);
    CHECK(nans == 2 * ((h.inf_code == 0x7F80) ? 127 : 1023));
  }
  CHECK(bf16_value(0x3F80) == 1.0f);
  CHECK(f16_value(0x3C00) == 1.0f);
  CHECK(f16_value(0x7BFF) == 65504.0f);
  CHECK(f16_value(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f16_value(0x8001) == -std::ldexp(1.0f, -24));
}

TEST_CASE("bf16 / f16: encode(decode(b)) == b for every non-NaN pattern, and NaN stays NaN") {
  for (const auto& h : kCases) {
    INFO(h.name);
    int mismatches = 0;
    for (std::uint32_t b = 0; b < 65536; ++b) {
      const auto bits = static_cast<std::uint16_t>(b);
      const float v = h.decode(bits);
      if (std::isnan(v)) {
        mismatches += !std::isnan(h.decode(h.encode(v)));
      } else {
        mismatches += h.encode(v) != bits;
      }
    }
    CHECK(mismatches == 0);
  }
  // A float NaN whose payload sits below bf16's mantissa must not become infinity.
  CHECK(std::isnan(bf16_value(float_to_bf16(std::bit_cast<float>(0x7F800001u)))));
  CHECK(std::isnan(bf16_value(float_to_bf16(std::bit_cast<float>(0xFF800001u)))));
  CHECK(std::isnan(f16_value(float_to_f16(std::bit_cast<float>(0x7F800001u)))));
  CHECK(float_to_f16(INFINITY) == 0x7C00);
  CHECK(float_to_f16(-INFINITY) == 0xFC00);
  CHECK(float_to_bf16(-INFINITY) == 0xFF80);
}

TEST_CASE("bf16 / f16: exact midpoints tie to even, and overflow rounds to infinity") {
  for (const auto& h : kCases) {
    INFO(h.name);
    const std::vector<double> table = rounding_table(h);
    int mismatches = 0;
    for (std::uint32_t c = 0; c < h.inf_code; ++c) {
      const double mid = (table[c] + table[c + 1]) / 2;
      const auto midpoint = static_cast<float>(mid);
      REQUIRE(static_cast<double>(midpoint) == mid);
      const std::uint32_t even = (c % 2 == 0) ? c : c + 1;
      mismatches += h.encode(midpoint) != even;
      mismatches += h.encode(-midpoint) != (even | 0x8000u);
      mismatches += h.encode(std::nextafter(midpoint, 0.0f)) != c;
      if (c + 1 < h.inf_code) mismatches += h.encode(std::nextafter(midpoint, INFINITY)) != c + 1;
    }
    CHECK(mismatches == 0);
  }
  CHECK(float_to_f16(65519.996f) == 0x7BFF);
  CHECK(float_to_f16(65520.0f) == 0x7C00);
  CHECK(float_to_f16(1e6f) == 0x7C00);
  CHECK(float_to_f16(-1e6f) == 0xFC00);
  CHECK(float_to_bf16(3.4028235e38f) == 0x7F80);  // FLT_MAX is above bf16's midpoint to 2^128
}

TEST_CASE("bf16 / f16: RNE encode of random floats matches the float64 nearest-even search") {
  std::mt19937_64 rng(7);
  for (const auto& h : kCases) {
    INFO(h.name);
    const std::vector<double> table = rounding_table(h);
    int mismatches = 0;
    for (int i = 0; i < 400000; ++i) {
      const float x = i % 4 == 0 ? std::bit_cast<float>(static_cast<std::uint32_t>(rng()))
                                 : random_float(rng, h.min_exp, h.max_exp);
      if (std::isnan(x)) continue;
      const std::uint32_t want =
          (std::isinf(x) ? h.inf_code : nearest_code(std::fabs(static_cast<double>(x)), table)) |
          (std::signbit(x) ? 0x8000u : 0u);
      mismatches += h.encode(x) != want;
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("bulk bf16 / f16 conversions equal the scalar codecs") {
  std::mt19937_64 rng(99);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const std::size_t n = 4097;
  std::vector<float> src(n), back(n);
  for (auto& v : src) v = normal(rng);
  std::vector<std::uint16_t> packed(n);
  float_to_bf16_array(src.data(), packed.data(), n);
  bf16_to_float_array(packed.data(), back.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(packed[i] == float_to_bf16(src[i]));
    REQUIRE(back[i] == bf16_to_float(packed[i]));
    REQUIRE(std::fabs(back[i] - src[i]) <= std::fabs(src[i]) * std::ldexp(1.0f, -8));
  }
  float_to_f16_array(src.data(), packed.data(), n);
  f16_to_float_array(packed.data(), back.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(packed[i] == float_to_f16(src[i]));
    REQUIRE(back[i] == f16_to_float(packed[i]));
    REQUIRE(std::fabs(back[i] - src[i]) <= std::fabs(src[i]) * std::ldexp(1.0f, -11) + 0x1p-25f);
  }
}
