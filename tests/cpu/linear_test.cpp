// linear / decode_row / embed against float64 references, every weight format.
#include "cpu/linear.hpp"

#include <cmath>
#include <cstring>

#include "cpu/dot.hpp"
#include "cpu/embedding.hpp"
#include "cpu/weight_rows.hpp"
#include "mimo/error.hpp"
#include "random_weights.hpp"
#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

using model::WeightFormat;
using testing::make_linear;
using testing::Rng;

struct Shape {
  WeightFormat format;
  std::int64_t rows, cols;
  int tokens;
  std::int64_t extra_rows;
  bool bf16_scales;
};

const Shape kShapes[] = {
    {WeightFormat::kF32, 7, 40, 1, 0, false},
    {WeightFormat::kF32, 33, 19, 4, 3, false},
    {WeightFormat::kBF16, 17, 70, 1, 0, false},
    {WeightFormat::kBF16, 5, 129, 5, 2, false},
    {WeightFormat::kF16, 9, 31, 2, 1, false},
    // FP8: ragged 128x128 blocks in both directions; a row offset shifts the block grid.
    {WeightFormat::kFp8Block, 130, 300, 3, 0, false},
    {WeightFormat::kFp8Block, 140, 257, 1, 70, true},
    // MXFP4: several groups of 32, and a ragged last group.
    {WeightFormat::kMxfp4, 9, 96, 2, 0, false},
    {WeightFormat::kMxfp4, 6, 80, 1, 4, false},
};

TEST_CASE("decode_row reproduces every stored value exactly") {
  Rng rng(1);
  for (const Shape& s : kShapes) {
    auto w = make_linear(s.format, s.rows, s.cols, rng, 0.5f, s.extra_rows, s.bf16_scales);
    validate_linear(w->weight);
    std::vector<float> row(s.cols);
    for (std::int64_t r = 0; r < s.rows; ++r) {
      decode_row(w->weight, r, row.data());
      for (std::int64_t c = 0; c < s.cols; ++c) {
        // The reference product is exact in float64; the kernel rounds it once to float32.
        REQUIRE(row[c] == static_cast<float>(w->exact[r * s.cols + c]));
      }
    }
  }
}

TEST_CASE("linear matches a float64 reference for every format and token count") {
  Rng rng(2);
  ThreadPool pool(2);
  for (const Shape& s : kShapes) {
    auto w = make_linear(s.format, s.rows, s.cols, rng, 0.5f, s.extra_rows, s.bf16_scales);
    const std::vector<float> x = testing::random_vector(rng, s.tokens * s.cols);
    std::vector<float> y(s.tokens * s.rows);
    linear(pool, w->weight, x.data(), s.tokens, y.data());
    for (int t = 0; t < s.tokens; ++t) {
      for (std::int64_t r = 0; r < s.rows; ++r) {
        double ref = 0, magnitude = 0;
        for (std::int64_t c = 0; c < s.cols; ++c) {
          ref += w->exact[r * s.cols + c] * x[t * s.cols + c];
          magnitude += std::abs(w->exact[r * s.cols + c] * x[t * s.cols + c]);
        }
        // float32 accumulation over <= 300 terms: error well below 1e-6 of sum |w x|.
        CHECK(std::abs(y[t * s.rows + r] - ref) <= 1e-6 * magnitude);
      }
    }
  }
}

TEST_CASE("linear results do not depend on the thread count or token batching") {
  Rng rng(3);
  ThreadPool one(1), two(2), three(3);
  auto w = make_linear(WeightFormat::kFp8Block, 301, 260, rng, 0.5f, 0, false);
  const int tokens = 3;
  const std::vector<float> x = testing::random_vector(rng, tokens * 260);
  std::vector<float> y1(tokens * 301), y2(tokens * 301), y3(tokens * 301), single(301);
  linear(one, w->weight, x.data(), tokens, y1.data());
  linear(two, w->weight, x.data(), tokens, y2.data());
  linear(three, w->weight, x.data(), tokens, y3.data());
  REQUIRE(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
  REQUIRE(std::memcmp(y1.data(), y3.data(), y1.size() * 4) == 0);
  for (int t = 0; t < tokens; ++t) {
    linear(two, w->weight, x.data() + t * 260, 1, single.data());
    REQUIRE(std::memcmp(single.data(), y1.data() + t * 301, 301 * 4) == 0);
  }
}

TEST_CASE("linear and linear_batch give each element the bits of one dot() of its row") {
  // The kernel dots two decoded rows with four tokens at a time (dots2x4; an odd last row
  // alone) and batches projections into one dispatch; neither may change an element: compare
  // with decode_row + dot() (301 rows: odd, so every range split leaves some row alone).
  Rng rng(6);
  ThreadPool pool(2);
  auto a = make_linear(WeightFormat::kBF16, 301, 260, rng, 0.5f, 0, false);
  auto b = make_linear(WeightFormat::kFp8Block, 130, 260, rng, 0.5f, 0, false);
  for (int tokens = 1; tokens <= 9; ++tokens) {
    const std::vector<float> x = testing::random_vector(rng, tokens * 260);
    std::vector<float> ya(tokens * 301), yb(tokens * 130), batched_a(ya.size()),
        batched_b(yb.size());
    linear(pool, a->weight, x.data(), tokens, ya.data());
    linear(pool, b->weight, x.data(), tokens, yb.data());
    const LinearJob jobs[] = {{&a->weight, x.data(), tokens, batched_a.data()},
                              {&b->weight, x.data(), tokens, batched_b.data()}};
    linear_batch(pool, jobs);
    REQUIRE(std::memcmp(ya.data(), batched_a.data(), ya.size() * 4) == 0);
    REQUIRE(std::memcmp(yb.data(), batched_b.data(), yb.size() * 4) == 0);
    std::vector<float> row(260);
    for (std::int64_t r = 0; r < 301; ++r) {
      decode_row(a->weight, r, row.data());
      for (int t = 0; t < tokens; ++t) {
        const float expected = dot(row.data(), x.data() + t * 260, 260);
        REQUIRE(std::memcmp(&expected, &ya[t * 301 + r], 4) == 0);
      }
    }
  }
}

TEST_CASE("embed gathers decoded rows") {
  Rng rng(4);
  auto table = make_linear(WeightFormat::kBF16, 50, 24, rng, 1.0f);
  const std::vector<std::int32_t> tokens = {3, 49, 0, 3};
  std::vector<float> out(tokens.size() * 24);
  embed(table->weight, tokens, out.data());
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    for (int c = 0; c < 24; ++c) {
      REQUIRE(out[t * 24 + c] == static_cast<float>(table->exact[tokens[t] * 24 + c]));
    }
  }
}

TEST_CASE("validate_linear rejects inconsistent weights") {
  Rng rng(5);
  auto w = make_linear(WeightFormat::kFp8Block, 10, 200, rng);
  model::LinearWeight bad = w->weight;
  bad.scale_cols = 1;  // 200 columns need 2 blocks of 128
  REQUIRE_THROWS_AS(validate_linear(bad), Error);
  bad = w->weight;
  bad.row_stride_bytes = 100;
  REQUIRE_THROWS_AS(validate_linear(bad), Error);
}

}  // namespace
}  // namespace mimo::cpu
