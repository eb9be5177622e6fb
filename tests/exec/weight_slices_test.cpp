// Row slices and column windows of weights in every stored format: their decoded values equal
// the full weight's bit for bit (views where the window starts a scale block, owned F32 copies
// otherwise), and linear() over a window matches a float64 reference of W[:, window] x.
#include "exec/weight_slices.hpp"

#include <cmath>
#include <cstring>

#include "cpu/linear.hpp"
#include "cpu/random_weights.hpp"
#include "cpu/weight_rows.hpp"
#include "mimo/error.hpp"
#include "support/catch.hpp"

using mimo::exec::ColumnWindow;
using mimo::model::WeightFormat;
namespace t = mimo::cpu::testing;

namespace {

bool same_bits(const float* a, const float* b, std::int64_t n) {
  return std::memcmp(a, b, sizeof(float) * n) == 0;
}

struct Case {
  WeightFormat format;
  std::int64_t begin, end;
  bool view;
};

}  // namespace

TEST_CASE("column windows decode exactly the full weight's columns", "[exec][slices]") {
  t::Rng rng(5);
  const std::int64_t rows = 40, cols = 192;  // fp8 blocks of 64 columns, mxfp4 groups of 32
  const Case cases[] = {
      {WeightFormat::kF32, 13, 101, true},      {WeightFormat::kBF16, 1, 192, true},
      {WeightFormat::kF16, 96, 150, true},      {WeightFormat::kFp8Block, 64, 192, true},
      {WeightFormat::kFp8Block, 32, 96, false}, {WeightFormat::kFp8Block, 0, 100, true},
      {WeightFormat::kMxfp4, 64, 128, true},    {WeightFormat::kMxfp4, 48, 112, false},
      {WeightFormat::kMxfp4, 0, 31, false},
  };
  for (const Case& c : cases) {
    for (bool bf16_scales : {false, true}) {
      INFO("format " << static_cast<int>(c.format) << " window [" << c.begin << ", " << c.end
                     << ") bf16 scales " << bf16_scales);
      auto w = t::make_linear(c.format, rows, cols, rng, 0.5f, 7, bf16_scales, 64);
      ColumnWindow window(w->weight, c.begin, c.end);
      const std::int64_t width = c.end - c.begin;
      CHECK(window.is_view() == c.view);
      CHECK(window.weight().rows == rows);
      CHECK(window.weight().cols == width);
      std::vector<float> full(cols), part(width);
      for (std::int64_t r = 0; r < rows; ++r) {
        mimo::cpu::decode_row(w->weight, r, full.data());
        mimo::cpu::decode_row(window.weight(), r, part.data());
        REQUIRE(same_bits(full.data() + c.begin, part.data(), width));
      }
      // y = W[:, window] x for 3 tokens against float64.
      mimo::cpu::ThreadPool pool(2);
      const int n = 3;
      const std::vector<float> x = t::random_vector(rng, n * width);
      std::vector<float> y(n * rows);
      mimo::cpu::linear(pool, window.weight(), x.data(), n, y.data());
      for (int i = 0; i < n; ++i) {
        for (std::int64_t r = 0; r < rows; ++r) {
          double ref = 0, mag = 0;
          for (std::int64_t j = 0; j < width; ++j) {
            const double term = w->exact[r * cols + c.begin + j] * x[i * width + j];
            ref += term;
            mag += std::abs(term);
          }
          CHECK(std::abs(y[i * rows + r] - ref) <= 1e-5 * mag + 1e-30);
        }
      }
      if (!bf16_scales && c.format != WeightFormat::kFp8Block) break;  // scales matter for fp8
    }
  }
}

TEST_CASE("row slices are views of the stored rows", "[exec][slices]") {
  t::Rng rng(9);
  for (WeightFormat f : {WeightFormat::kBF16, WeightFormat::kFp8Block, WeightFormat::kMxfp4}) {
    auto w = t::make_linear(f, 50, 64, rng, 1.0f, 3, false, 16);
    const auto s = mimo::exec::slice_rows(w->weight, 17, 41);
    CHECK(s.rows == 24);
    CHECK(s.data == w->weight.data);
    std::vector<float> a(64), b(64);
    for (std::int64_t r = 0; r < 24; ++r) {
      mimo::cpu::decode_row(w->weight, 17 + r, a.data());
      mimo::cpu::decode_row(s, r, b.data());
      REQUIRE(same_bits(a.data(), b.data(), 64));
    }
  }
}

TEST_CASE("empty or out-of-range slices are rejected", "[exec][slices]") {
  t::Rng rng(1);
  auto w = t::make_linear(WeightFormat::kBF16, 8, 16, rng);
  CHECK_THROWS_AS(ColumnWindow(w->weight, 4, 4), mimo::Error);
  CHECK_THROWS_AS(ColumnWindow(w->weight, 0, 17), mimo::Error);
  CHECK_THROWS_AS(ColumnWindow(w->weight, -1, 3), mimo::Error);
  CHECK_THROWS_AS(mimo::exec::slice_rows(w->weight, 5, 9), mimo::Error);
  CHECK_THROWS_AS(mimo::exec::slice_rows(w->weight, 3, 2), mimo::Error);
}
