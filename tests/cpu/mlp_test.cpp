// Gated MLP and MoE combine against float64 references.
#include "cpu/mlp.hpp"

#include <cmath>
#include <cstring>

#include "random_weights.hpp"
#include "support/catch.hpp"

namespace mimo::cpu {
namespace {

using model::WeightFormat;
using testing::Rng;

struct OwnedMlp {
  std::unique_ptr<testing::OwnedLinear> gate, up, down;
  model::ExpertWeights weights() const { return {gate->weight, up->weight, down->weight}; }
};

OwnedMlp make_mlp(WeightFormat format, std::int64_t hidden, std::int64_t inter, Rng& rng) {
  return {testing::make_linear(format, inter, hidden, rng, 0.3f),
          testing::make_linear(format, inter, hidden, rng, 0.3f),
          testing::make_linear(format, hidden, inter, rng, 0.3f)};
}

// down(silu(gate x) * up x) in double; also returns sum |terms| of the last product.
std::vector<double> reference_mlp(const OwnedMlp& m, const float* x, std::int64_t hidden,
                                  std::int64_t inter, std::vector<double>* magnitude) {
  std::vector<double> act(inter);
  for (std::int64_t i = 0; i < inter; ++i) {
    double g = 0, u = 0;
    for (std::int64_t c = 0; c < hidden; ++c) {
      g += m.gate->exact[i * hidden + c] * x[c];
      u += m.up->exact[i * hidden + c] * x[c];
    }
    act[i] = g / (1.0 + std::exp(-g)) * u;
  }
  std::vector<double> y(hidden, 0.0);
  magnitude->assign(hidden, 0.0);
  for (std::int64_t r = 0; r < hidden; ++r) {
    for (std::int64_t i = 0; i < inter; ++i) {
      y[r] += m.down->exact[r * inter + i] * act[i];
      (*magnitude)[r] += std::abs(m.down->exact[r * inter + i] * act[i]);
    }
  }
  return y;
}

TEST_CASE("gated_mlp matches a float64 reference") {
  Rng rng(40);
  ThreadPool pool(2);
  const std::int64_t hidden = 64, inter = 96;
  for (WeightFormat f : {WeightFormat::kBF16, WeightFormat::kFp8Block, WeightFormat::kMxfp4}) {
    const OwnedMlp m = make_mlp(f, hidden, inter, rng);
    const int tokens = 3;
    const std::vector<float> x = testing::random_vector(rng, tokens * hidden);
    std::vector<float> y(tokens * hidden);
    gated_mlp(pool, m.weights(), x.data(), tokens, y.data());
    for (int t = 0; t < tokens; ++t) {
      std::vector<double> mag;
      const std::vector<double> ref = reference_mlp(m, x.data() + t * hidden, hidden, inter, &mag);
      for (std::int64_t r = 0; r < hidden; ++r) {
        CHECK(std::abs(y[t * hidden + r] - ref[r]) <= 2e-6 * mag[r] + 1e-7);
      }
    }
  }
}

TEST_CASE("moe combines the routed experts and batching does not change a bit") {
  Rng rng(41);
  ThreadPool pool(2);
  const std::int64_t hidden = 32, inter = 64;
  std::vector<OwnedMlp> owned;
  std::vector<model::ExpertWeights> experts;
  for (int e = 0; e < 5; ++e) owned.push_back(make_mlp(WeightFormat::kMxfp4, hidden, inter, rng));
  for (const OwnedMlp& m : owned) experts.push_back(m.weights());
  const std::vector<Route> routes = {{{3, 1}, {0.7f, 0.3f}},
                                     {{1, 4}, {0.6f, 0.4f}},
                                     {{0, 3}, {0.55f, 0.45f}},
                                     {{3, 1}, {0.2f, 0.8f}}};
  const int tokens = static_cast<int>(routes.size());
  const std::vector<float> x = testing::random_vector(rng, tokens * hidden);
  std::vector<float> y(tokens * hidden);
  moe(pool, experts, routes, x.data(), tokens, hidden, y.data());
  for (int t = 0; t < tokens; ++t) {
    std::vector<double> ref(hidden, 0.0), bound(hidden, 0.0);
    for (std::size_t k = 0; k < routes[t].experts.size(); ++k) {
      std::vector<double> mag;
      const std::vector<double> e =
          reference_mlp(owned[routes[t].experts[k]], x.data() + t * hidden, hidden, inter, &mag);
      for (std::int64_t r = 0; r < hidden; ++r) {
        ref[r] += routes[t].weights[k] * e[r];
        bound[r] += routes[t].weights[k] * mag[r];
      }
    }
    for (std::int64_t r = 0; r < hidden; ++r) {
      CHECK(std::abs(y[t * hidden + r] - ref[r]) <= 2e-6 * bound[r] + 1e-7);
    }
    std::vector<float> single(hidden);
    moe(pool, experts, std::span<const Route>(&routes[t], 1), x.data() + t * hidden, 1, hidden,
        single.data());
    REQUIRE(std::memcmp(single.data(), y.data() + t * hidden, hidden * 4) == 0);
  }
}

}  // namespace
}  // namespace mimo::cpu
