// FP4 E2M1, FP8 E4M3 / E5M2 and E8M0: exhaustive decode against float64 field arithmetic,
// encode(decode(c)) == c, ties to even at every midpoint, saturation, NaN, random RNE encode.
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "quant/codecs.hpp"
#include "reference_formats.hpp"
#include "support/catch.hpp"

using namespace mimo::quant;
using namespace mimo::quant::test;

namespace {

// Both NaN, or equal as float64 (which also compares infinities and the sign of zero).
bool same_value(float got, double want) {
  if (std::isnan(want)) return std::isnan(got);
  return static_cast<double>(got) == want && std::signbit(got) == std::signbit(want);
}

struct MinifloatCase {
  const char* name;
  std::uint32_t code_count;  // 16 or 256
  std::uint32_t sign_bit;    // 0x8 or 0x80
  std::uint32_t max_code;    // largest finite magnitude code
  float max_value;
  double (*reference)(std::uint8_t);
  float (*decode)(std::uint8_t);
  std::uint8_t (*encode)(float);
};

const MinifloatCase kCases[] = {
    {"fp4_e2m1", 16, 0x8, 0x7, 6.0f, ref_fp4, fp4_e2m1_to_float, float_to_fp4_e2m1},
    {"fp8_e4m3", 256, 0x80, 0x7E, 448.0f, ref_e4m3, fp8_e4m3_to_float, float_to_fp8_e4m3},
    {"fp8_e5m2", 256, 0x80, 0x7B, 57344.0f, ref_e5m2, fp8_e5m2_to_float, float_to_fp8_e5m2},
};

std::vector<double> finite_magnitudes(const MinifloatCase& f) {
  return magnitude_table(
      f.max_code + 1, [&](std::uint32_t c) { return f.reference(static_cast<std::uint8_t>(c)); });
}

}  // namespace

TEST_CASE("fp4 e2m1: the 16 codes decode to +-{0, .5, 1, 1.5, 2, 3, 4, 6}") {
  const double magnitudes[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  for (std::uint8_t c = 0; c < 16; ++c) {
    const double want = (c & 8) ? -magnitudes[c & 7] : magnitudes[c & 7];
    CHECK(same_value(fp4_e2m1_to_float(c), want));
    CHECK(same_value(fp4_value(c), want));
    CHECK(ref_fp4(c) == want);  // the field formula agrees with the spec's table
    CHECK(fp4_value(static_cast<std::uint8_t>(c | 0xF0)) == fp4_value(c));  // high bits ignored
  }
}

TEST_CASE("fp8 e4m3 / e5m2: all 256 codes decode to the field formula") {
  for (std::uint32_t c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    CHECK(same_value(fp8_e4m3_to_float(code), ref_e4m3(code)));
    CHECK(same_value(fp8_e4m3_value(code), ref_e4m3(code)));
    CHECK(same_value(fp8_e5m2_to_float(code), ref_e5m2(code)));
    CHECK(same_value(fp8_e5m2_value(code), ref_e5m2(code)));
  }
  // Landmarks of e4m3fn: NaN only at S.1111.111, max 448, min subnormal 2^-9, min normal 2^-6.
  CHECK(std::isnan(fp8_e4m3_to_float(0x7F)));
  CHECK(std::isnan(fp8_e4m3_to_float(0xFF)));
  CHECK(fp8_e4m3_to_float(0x7E) == 448.0f);
  CHECK(fp8_e4m3_to_float(0xFE) == -448.0f);
  CHECK(fp8_e4m3_to_float(0x78) == 256.0f);
  CHECK(fp8_e4m3_to_float(0x01) == std::ldexp(1.0f, -9));
  CHECK(fp8_e4m3_to_float(0x08) == std::ldexp(1.0f, -6));
  int e4m3_nans = 0, e5m2_nans = 0;
  for (std::uint32_t c = 0; c < 256; ++c) {
    e4m3_nans += std::isnan(fp8_e4m3_to_float(static_cast<std::uint8_t>(c)));
    e5m2_nans += std::isnan(fp8_e5m2_to_float(static_cast<std::uint8_t>(c)));
  }
  CHECK(e4m3_nans == 2);
  CHECK(e5m2_nans == 6);
  // e5m2: IEEE-like, inf at S.11111.00, max 57344, min subnormal 2^-16.
  CHECK(fp8_e5m2_to_float(0x7C) == INFINITY);
  CHECK(fp8_e5m2_to_float(0xFC) == -INFINITY);
  CHECK(fp8_e5m2_to_float(0x7B) == 57344.0f);
  CHECK(fp8_e5m2_to_float(0x01) == std::ldexp(1.0f, -16));
}

TEST_CASE("e8m0: all 256 codes are 2^(c-127), 0xFF is NaN") {
  for (std::uint32_t c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    CHECK(same_value(e8m0_to_float(code), ref_e8m0(code)));
    CHECK(same_value(e8m0_value(code), ref_e8m0(code)));
  }
  CHECK(e8m0_to_float(0) == std::ldexp(1.0f, -127));
  CHECK(e8m0_to_float(127) == 1.0f);
  CHECK(e8m0_to_float(254) == std::ldexp(1.0f, 127));
}

TEST_CASE("minifloats: encode(decode(c)) == c for every non-NaN code, zero keeps its sign") {
  for (const auto& f : kCases) {
    INFO(f.name);
    for (std::uint32_t c = 0; c < f.code_count; ++c) {
      const auto code = static_cast<std::uint8_t>(c);
      const float v = f.decode(code);
      if (std::isnan(v)) continue;
      CHECK(f.encode(v) == code);
    }
    CHECK(f.encode(0.0f) == 0);
    CHECK(f.encode(-0.0f) == f.sign_bit);
  }
}

TEST_CASE("minifloats: exact midpoints round to the even code, neighbours to the nearer one") {
  for (const auto& f : kCases) {
    INFO(f.name);
    for (std::uint32_t c = 0; c < f.max_code; ++c) {
      const double lo = f.reference(static_cast<std::uint8_t>(c));
      const double hi = f.reference(static_cast<std::uint8_t>(c + 1));
      const auto midpoint = static_cast<float>((lo + hi) / 2);
      REQUIRE(static_cast<double>(midpoint) == (lo + hi) / 2);
      const std::uint32_t even = (c % 2 == 0) ? c : c + 1;
      INFO("between codes " << c << " and " << c + 1);
      CHECK(f.encode(midpoint) == even);
      CHECK(f.encode(-midpoint) == (even | f.sign_bit));
      CHECK(f.encode(std::nextafter(midpoint, 0.0f)) == c);
      CHECK(f.encode(std::nextafter(midpoint, INFINITY)) == c + 1);
    }
  }
  // The brief's FP4 examples.
  const float inputs[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  const float outputs[] = {0.0f, 1.0f, 1.0f, 2.0f, 2.0f, 4.0f, 4.0f};
  for (int i = 0; i < 7; ++i) CHECK(fp4_value(float_to_fp4_e2m1(inputs[i])) == outputs[i]);
}

TEST_CASE("minifloats: saturation, infinities and NaN") {
  for (const auto& f : kCases) {
    INFO(f.name);
    const float beyond[] = {std::nextafter(f.max_value, INFINITY),
                            f.max_value * 1.0625f,
                            f.max_value * 1.25f,
                            f.max_value * 2,
                            1e30f,
                            3.4e38f};
    for (float v : beyond) {
      CHECK(f.encode(v) == f.max_code);
      CHECK(f.encode(-v) == (f.max_code | f.sign_bit));
    }
  }
  // e4m3 and fp4 have no infinity: it saturates; e5m2 keeps it.
  CHECK(float_to_fp8_e4m3(INFINITY) == 0x7E);
  CHECK(float_to_fp8_e4m3(-INFINITY) == 0xFE);
  CHECK(float_to_fp4_e2m1(INFINITY) == 0x7);
  CHECK(float_to_fp4_e2m1(-INFINITY) == 0xF);
  CHECK(float_to_fp8_e5m2(INFINITY) == 0x7C);
  CHECK(float_to_fp8_e5m2(-INFINITY) == 0xFC);
  const float nans[] = {NAN, -NAN, std::bit_cast<float>(0x7F800001u),
                        std::bit_cast<float>(0xFFC00000u)};
  for (float v : nans) {
    CHECK(float_to_fp8_e4m3(v) == 0x7F);
    CHECK(float_to_fp8_e5m2(v) == 0x7E);
    CHECK(std::isnan(fp8_e5m2_to_float(float_to_fp8_e5m2(v))));
    CHECK(float_to_fp4_e2m1(v) == 0x0);
  }
  // Below half the smallest subnormal: zero of the input's sign.
  CHECK(float_to_fp8_e4m3(std::ldexp(1.0f, -11)) == 0x00);
  CHECK(float_to_fp8_e4m3(-std::ldexp(1.0f, -11)) == 0x80);
  CHECK(float_to_fp8_e4m3(std::ldexp(1.0f, -149)) == 0x00);
  CHECK(float_to_fp8_e5m2(std::ldexp(1.0f, -18)) == 0x00);
  CHECK(float_to_fp8_e5m2(std::ldexp(1.5f, -17)) == 0x01);
}

TEST_CASE("minifloats: encode of random floats is the float64 nearest-even code") {
  std::mt19937_64 rng(20240611);
  for (const auto& f : kCases) {
    INFO(f.name);
    const std::vector<double> magnitudes = finite_magnitudes(f);
    const int max_exp = std::ilogb(f.max_value) + 2;
    const int min_exp = std::ilogb(static_cast<float>(magnitudes[1])) - 3;
    int mismatches = 0;
    for (int i = 0; i < 200000; ++i) {
      const float x = i % 8 == 0 ? std::bit_cast<float>(static_cast<std::uint32_t>(rng()))
                                 : random_float(rng, min_exp, max_exp);
      if (std::isnan(x)) continue;
      const std::uint32_t want = nearest_code(std::fabs(static_cast<double>(x)), magnitudes) |
                                 (std::signbit(x) ? f.sign_bit : 0);
      if (f.encode(x) != want) {
        ++mismatches;
        if (mismatches < 5) {
          INFO("x = " << x << " got " << int(f.encode(x)) << " want " << want);
          CHECK(false);
        }
      }
    }
    CHECK(mismatches == 0);
  }
}
