// The transformers fixtures of tests/data/models for the CPU and GPU suites: where they are,
// their token files, a fixture loaded and bound, and how far one output lies from another.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "support/catch.hpp"

namespace mimo::testing {

// MIMO_TEST_DATA_DIR in the environment overrides the build-time path (the GPU machine runs a
// copy of the tree elsewhere).
inline std::string fixture_dir(const std::string& name) {
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  return std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/models/" + name;
}

inline std::vector<std::int32_t> read_tokens(const std::string& path) {
  std::ifstream in(path);
  INFO(path);
  REQUIRE(in.good());
  return {std::istream_iterator<std::int32_t>(in), std::istream_iterator<std::int32_t>()};
}

// A checkpoint's config and weights (bound into the checkpoint's mapping, which they borrow).
struct LoadedFixture {
  model::ModelConfig config;
  io::Checkpoint checkpoint;
  model::ModelWeights weights;
};

inline std::unique_ptr<LoadedFixture> load_fixture(const std::string& dir) {
  auto l = std::make_unique<LoadedFixture>(
      LoadedFixture{model::load_model_config(dir), io::Checkpoint::open(dir), {}});
  l->weights = model::bind_weights(l->config, l->checkpoint);
  return l;
}

// got against want: the relative L2 norm of the difference and its largest element (infinite
// where a difference is not finite).
struct Deviation {
  double relative_l2 = 0, max_abs = 0;
};
inline Deviation deviation(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  double diff2 = 0, ref2 = 0, max_abs = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = double(got[i]) - want[i];
    diff2 += d * d;
    ref2 += double(want[i]) * want[i];
    max_abs = std::max(max_abs, std::isfinite(d) ? std::abs(d) : INFINITY);
  }
  return {std::sqrt(diff2 / ref2), max_abs};
}

}  // namespace mimo::testing
