// MXFP4 and 128x128 block-scaled FP8: scale selection, every code against a float64
// nearest-even reference, packing layout, error bounds on random data (normal, uniform,
// heavy-tailed), row decoders equal full dequantization, edge blocks and bad shapes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "mimo/error.hpp"
#include "quant/block_formats.hpp"
#include "quant/codecs.hpp"
#include "reference_formats.hpp"
#include "support/catch.hpp"

using namespace mimo::quant;
using namespace mimo::quant::test;

namespace {

enum class Distribution { kNormal, kUniform, kHeavyTailed };

std::vector<float> random_matrix(std::mt19937_64& rng, std::size_t n, Distribution d) {
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
  std::student_t_distribution<float> heavy(1.5f);
  std::vector<float> v(n);
  for (auto& x : v) {
    x = d == Distribution::kNormal    ? normal(rng)
        : d == Distribution::kUniform ? uniform(rng)
                                      : heavy(rng);
  }
  v[n / 3] = 1.0f;  // never all zeros
  return v;
}

const Distribution kDistributions[] = {Distribution::kNormal, Distribution::kUniform,
                                       Distribution::kHeavyTailed};

std::vector<double> fp4_magnitudes() {
  return magnitude_table(8, [](std::uint32_t c) { return ref_fp4(static_cast<std::uint8_t>(c)); });
}

std::vector<double> e4m3_magnitudes() {
  return magnitude_table(0x7F,
                         [](std::uint32_t c) { return ref_e4m3(static_cast<std::uint8_t>(c)); });
}

// OCP shared exponent from frexp: amax = f * 2^e with f in [0.5, 1) -> floor(log2) = e - 1.
int reference_shared_exponent(double amax) {
  if (amax == 0) return 0;
  int e = 0;
  std::frexp(amax, &e);
  return std::clamp(e - 1 - 2, -127, 127);
}

std::uint8_t nibble(const std::vector<std::uint8_t>& codes, std::int64_t index) {
  const std::uint8_t byte = codes[static_cast<std::size_t>(index / 2)];
  return index % 2 == 0 ? (byte & 0xF) : (byte >> 4);
}

// Checks every scale and code of an MXFP4 quantization of src against the float64 reference
// and the dequantized values' error against half a grid step (or the clip at 6 * scale).
void check_mxfp4(const std::vector<float>& src, std::int64_t rows, std::int64_t cols) {
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows * cols / 2));
  std::vector<std::uint8_t> scales(static_cast<std::size_t>(rows * cols / 32));
  quantize_mxfp4(src.data(), rows, cols, codes.data(), scales.data());
  std::vector<float> dst(src.size()), row(static_cast<std::size_t>(cols));
  dequantize_mxfp4(codes.data(), scales.data(), rows, cols, dst.data());
  const std::vector<double> grid = fp4_magnitudes();
  int bad_scales = 0, bad_codes = 0, bad_errors = 0, bad_rows = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t g = 0; g < cols / 32; ++g) {
      double amax = 0;
      for (int i = 0; i < 32; ++i)
        amax = std::max(amax, std::fabs(double(src[r * cols + g * 32 + i])));
      const int shared_exp = reference_shared_exponent(amax);
      bad_scales += scales[r * (cols / 32) + g] != shared_exp + 127;
      const double scale = std::ldexp(1.0, shared_exp);
      for (int i = 0; i < 32; ++i) {
        const std::int64_t k = r * cols + g * 32 + i;
        const double x = src[k];
        const std::uint32_t want =
            nearest_code(std::fabs(x) / scale, grid) | (std::signbit(x) ? 8u : 0u);
        bad_codes += nibble(codes, k) != want;
        const double err = std::fabs(double(dst[k]) - x);
        const double clip = std::fabs(x) - 6 * scale;
        // Half of the grid step around |x| / scale: 0.25 below 2, 0.5 below 4, 1 above.
        const double y = std::fabs(x) / scale;
        const double half_step = (y < 2 ? 0.25 : y < 4 ? 0.5 : 1.0) * scale;
        bad_errors += clip > 0 ? err != clip : err > half_step;
      }
    }
    decode_mxfp4_row(codes.data() + r * cols / 2, scales.data() + r * cols / 32, cols, row.data());
    bad_rows += !std::equal(row.begin(), row.end(), dst.begin() + r * cols);
  }
  CHECK(bad_scales == 0);
  CHECK(bad_codes == 0);
  CHECK(bad_errors == 0);
  CHECK(bad_rows == 0);
}

}  // namespace

TEST_CASE("mxfp4: random matrices match the OCP reference code by code") {
  std::mt19937_64 rng(31337);
  for (auto d : kDistributions) {
    const std::int64_t rows = 7, cols = 256;
    check_mxfp4(random_matrix(rng, rows * cols, d), rows, cols);
  }
}

TEST_CASE("mxfp4: a group whose max is 6 * 2^k uses scale 2^k and is exact on the grid") {
  std::mt19937_64 rng(5);
  for (int k : {-20, -3, 0, 1, 7, 100}) {
    std::vector<float> src(64);
    for (std::size_t i = 0; i < src.size(); ++i) {
      const float grid_value = fp4_value(static_cast<std::uint8_t>(rng() & 0xF));
      src[i] = std::ldexp(grid_value, k);
    }
    src[5] = std::ldexp(6.0f, k);
    src[40] = std::ldexp(-6.0f, k);
    std::vector<std::uint8_t> codes(32), scales(2);
    quantize_mxfp4(src.data(), 1, 64, codes.data(), scales.data());
    CHECK(scales[0] == 127 + k);
    CHECK(scales[1] == 127 + k);
    std::vector<float> dst(64);
    dequantize_mxfp4(codes.data(), scales.data(), 1, 64, dst.data());
    for (std::size_t i = 0; i < 64; ++i) CHECK(dst[i] == src[i]);
    // Just above 6 * 2^k the exponent stays k (floor(log2) unchanged): the value clips to 6.
    src[5] = std::nextafter(std::ldexp(7.9f, k), 0.0f);
    quantize_mxfp4(src.data(), 1, 64, codes.data(), scales.data());
    CHECK(scales[0] == 127 + k);
    CHECK(fp4_value(codes[2] >> 4) == 6.0f);
  }
}

TEST_CASE("mxfp4: packing, zero groups, exponent clamping, heavy outliers") {
  std::vector<float> src(64, 0.0f);
  src[0] = 0.5f;   // low nibble of byte 0
  src[1] = -1.0f;  // high nibble of byte 0
  src[31] = 4.0f;  // high nibble of byte 15
  std::vector<std::uint8_t> codes(32), scales(2);
  quantize_mxfp4(src.data(), 1, 64, codes.data(), scales.data());
  CHECK(scales[0] == 127);  // max 4 = 1.0 * 2^2 -> shared exponent 0
  CHECK(codes[0] == (0x1 | (0xA << 4)));
  CHECK(codes[15] == (0x6 << 4));
  CHECK(scales[1] == kMxfp4ZeroGroupScale);
  for (int i = 16; i < 32; ++i) CHECK(codes[i] == 0);
  // Tiny groups clamp at 2^-127, huge ones stay representable; both follow the reference.
  std::mt19937_64 rng(11);
  std::vector<float> extremes(2 * 32 * 4);
  for (std::size_t i = 0; i < extremes.size(); ++i) {
    const int group = static_cast<int>(i / 32);
    const int exp = group == 0 ? -149 : group == 1 ? -140 : group == 2 ? 120 : 127;
    extremes[i] = random_float(rng, exp - 3 < -149 ? -149 : exp - 3, exp);
  }
  check_mxfp4(extremes, 2, 128);
  CHECK_THROWS_AS(quantize_mxfp4(src.data(), 1, 48, codes.data(), scales.data()), mimo::Error);
  CHECK_THROWS_AS(decode_mxfp4_row(codes.data(), scales.data(), 33, extremes.data()), mimo::Error);
  src[3] = NAN;
  CHECK_THROWS_AS(quantize_mxfp4(src.data(), 1, 64, codes.data(), scales.data()), mimo::Error);
}

TEST_CASE("fp8 block: scales, codes and error bounds on random matrices with edge blocks") {
  std::mt19937_64 rng(2718);
  const std::vector<double> grid = e4m3_magnitudes();
  const std::int64_t shapes[][4] = {{200, 300, 128, 128}, {128, 256, 128, 128}, {5, 130, 2, 64}};
  for (auto d : kDistributions) {
    for (const auto& s : shapes) {
      const std::int64_t rows = s[0], cols = s[1], br = s[2], bc = s[3];
      const std::int64_t srows = (rows + br - 1) / br, scols = (cols + bc - 1) / bc;
      std::vector<float> src = random_matrix(rng, static_cast<std::size_t>(rows * cols), d);
      // One all-zero block (the top-left one) must get scale 1.
      for (std::int64_t r = 0; r < std::min(rows, br); ++r) {
        for (std::int64_t c = 0; c < std::min(cols, bc); ++c) src[r * cols + c] = 0.0f;
      }
      src[(rows - 1) * cols + cols - 1] = -2.5f;
      std::vector<std::uint8_t> codes(src.size());
      std::vector<float> scales(static_cast<std::size_t>(srows * scols)), dst(src.size()),
          row(static_cast<std::size_t>(cols));
      quantize_fp8_block(src.data(), rows, cols, br, bc, codes.data(), scales.data());
      dequantize_fp8_block(codes.data(), scales.data(), rows, cols, br, bc, dst.data());
      int bad_scales = 0, bad_codes = 0, bad_errors = 0, bad_rows = 0;
      for (std::int64_t i = 0; i < srows; ++i) {
        for (std::int64_t j = 0; j < scols; ++j) {
          double amax = 0;
          for (std::int64_t r = i * br; r < std::min(rows, (i + 1) * br); ++r) {
            for (std::int64_t c = j * bc; c < std::min(cols, (j + 1) * bc); ++c) {
              amax = std::max(amax, std::fabs(double(src[r * cols + c])));
            }
          }
          const float want = amax == 0 ? 1.0f : static_cast<float>(amax) / 448.0f;
          bad_scales += scales[i * scols + j] != want;
        }
      }
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
          const std::size_t k = static_cast<std::size_t>(r * cols + c);
          const float scale = scales[(r / br) * scols + c / bc];
          const float q = src[k] / scale;  // the documented definition: float32 division
          const std::uint32_t want =
              nearest_code(std::fabs(double(q)), grid) | (std::signbit(q) ? 0x80u : 0u);
          bad_codes += codes[k] != want;
          const double y = std::fabs(double(src[k])) / scale;
          const double half_gap = y < 0x1p-6 ? 0x1p-10 : std::ldexp(1.0, std::ilogb(y) - 4);
          const double bound =
              (half_gap + y * 0x1p-23) * scale + std::fabs(double(dst[k])) * 0x1p-24;
          bad_errors += std::fabs(double(dst[k]) - double(src[k])) > bound;
        }
        decode_fp8_block_row(r, codes.data(), scales.data(), rows, cols, br, bc, row.data());
        bad_rows += !std::equal(row.begin(), row.end(), dst.begin() + r * cols);
      }
      INFO("shape " << rows << "x" << cols << " blocks " << br << "x" << bc);
      CHECK(scales[0] == 1.0f);
      CHECK(bad_scales == 0);
      CHECK(bad_codes == 0);
      CHECK(bad_errors == 0);
      CHECK(bad_rows == 0);
    }
  }
}

TEST_CASE("fp8 block: dequantized value is exactly fp8 times scale, and bad arguments throw") {
  const float src[6] = {448.0f, -224.0f, 1.0f, 3.0f, -0.0f, 0.5f};
  std::uint8_t codes[6];
  float scale = 0;
  quantize_fp8_block(src, 2, 3, 128, 128, codes, &scale);
  CHECK(scale == 1.0f);  // amax 448 -> scale 1, every input on the grid
  float dst[6];
  dequantize_fp8_block(codes, &scale, 2, 3, 128, 128, dst);
  for (int i = 0; i < 6; ++i) CHECK(dst[i] == src[i]);
  CHECK(codes[4] == 0x80);
  CHECK_THROWS_AS(quantize_fp8_block(src, 2, 3, 0, 128, codes, &scale), mimo::Error);
  CHECK_THROWS_AS(decode_fp8_block_row(2, codes, &scale, 2, 3, 128, 128, dst), mimo::Error);
  const float with_inf[2] = {1.0f, INFINITY};
  CHECK_THROWS_AS(quantize_fp8_block(with_inf, 1, 2, 128, 128, codes, &scale), mimo::Error);
}
