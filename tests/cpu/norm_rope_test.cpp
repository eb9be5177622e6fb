// RMSNorm and RoPE against float64 references.
#include <cmath>

#include "cpu/rmsnorm.hpp"
#include "cpu/rope.hpp"
#include "random_weights.hpp"
#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

using testing::Rng;

TEST_CASE("rmsnorm matches x / sqrt(mean(x^2) + eps) * w") {
  Rng rng(10);
  for (std::int64_t dim : {1, 7, 64, 333}) {
    const int tokens = 3;
    const std::vector<float> x = testing::random_vector(rng, tokens * dim, 3.0f);
    const std::vector<float> w = testing::random_vector(rng, dim);
    std::vector<float> y(x.size());
    rmsnorm(x.data(), w.data(), tokens, dim, 1e-5, y.data());
    for (int t = 0; t < tokens; ++t) {
      double ms = 0;
      for (std::int64_t i = 0; i < dim; ++i) ms += double(x[t * dim + i]) * x[t * dim + i];
      const double inv = 1.0 / std::sqrt(ms / dim + 1e-5);
      for (std::int64_t i = 0; i < dim; ++i) {
        const double ref = x[t * dim + i] * inv * w[i];
        CHECK(std::abs(y[t * dim + i] - ref) <= 1e-6 * std::abs(ref) + 1e-7);
      }
    }
  }
  // In place.
  std::vector<float> x = testing::random_vector(rng, 16), w = testing::random_vector(rng, 16);
  std::vector<float> y(16);
  rmsnorm(x.data(), w.data(), 1, 16, 1e-6, y.data());
  rmsnorm(x.data(), w.data(), 1, 16, 1e-6, x.data());
  REQUIRE(x == y);
}

// Rotates random heads at `pos` with `rope` (built for d) and checks every pair (j, j + width / 2)
// against the float64 rotation by pos / theta^(2j / d), and the dims past the width untouched.
void check_rotation(const Rope& rope, Rng& rng, int heads, int head_dim, int d, double theta,
                    long long pos) {
  const int width = rope.rotary_dim();
  const std::vector<float> x = testing::random_vector(rng, heads * head_dim);
  std::vector<float> y = x;
  rope.apply(y.data(), heads, head_dim, pos);
  for (int h = 0; h < heads; ++h) {
    const float* xh = x.data() + h * head_dim;
    const float* yh = y.data() + h * head_dim;
    for (int j = 0; j < width / 2; ++j) {
      const double angle = pos / std::pow(theta, 2.0 * j / d);
      const double a = xh[j], b = xh[j + width / 2];
      // The float32 angle (pos * inv_freq rounded) costs up to ~1 ulp of the angle.
      const double tol = 1e-6 + 2e-7 * angle;
      CHECK(std::abs(yh[j] - (a * std::cos(angle) - b * std::sin(angle))) <= tol);
      CHECK(std::abs(yh[j + width / 2] - (b * std::cos(angle) + a * std::sin(angle))) <= tol);
    }
    for (int j = width; j < head_dim; ++j) REQUIRE(yh[j] == xh[j]);
  }
}

TEST_CASE("rope rotates pairs (j, j + d/2) of the first rotary_dim dims only") {
  Rng rng(11);
  const int heads = 3, head_dim = 24, rotary_dim = 8;
  for (double theta : {10000.0, 5e6}) {
    const Rope rope(rotary_dim, theta);
    REQUIRE(rope.rotary_dim() == rotary_dim);
    for (int i = 0; i < rotary_dim / 2; ++i) {
      const double ref = 1.0 / std::pow(theta, 2.0 * i / rotary_dim);
      CHECK(std::abs(rope.inv_freq()[i] - ref) <= 2e-7 * ref);
    }
    for (long long pos : {0LL, 1LL, 5LL, 37LL}) {
      check_rotation(rope, rng, heads, head_dim, rotary_dim, theta, pos);
    }
  }
}

TEST_CASE("an odd d: ceil(d / 2) frequencies theta^(-2i / d) rotating 2 * ceil(d / 2) dims") {
  Rng rng(12);
  const int heads = 2, head_dim = 32, d = 21, width = 22;
  const double theta = 10000.0;
  const Rope rope(d, theta);
  REQUIRE(rope.rotary_dim() == width);
  REQUIRE(rope.inv_freq().size() == std::size_t(width / 2));
  for (int i = 0; i < width / 2; ++i) {
    const double ref = 1.0 / std::pow(theta, 2.0 * i / d);  // transformers: arange(0, d, 2) / d
    // 2i / d is rounded to float32 first (as torch does): up to half an ulp of the exponent,
    // ln(theta) times that relative to the power.
    CHECK(std::abs(rope.inv_freq()[i] - ref) <= (2e-7 + 6e-8 * std::log(theta)) * ref);
  }
  for (long long pos : {1LL, 13LL, 300LL})
    check_rotation(rope, rng, heads, head_dim, d, theta, pos);
}

}  // namespace
}  // namespace mimo::cpu
