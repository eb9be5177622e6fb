// Helpers of the GPU suite's whole-forward tests (forward_test.cpp, prefill_chunk_test.cpp): the
// fixtures of tests/data/models loaded for a CPU and a GPU executor, and the tolerance the GPU
// forward is held to against the CPU reference (forward_test.cpp says why these numbers).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "exec/cpu_executor.hpp"
#include "io/checkpoint.hpp"
#include "model/config_parse.hpp"
#include "model/weight_binder.hpp"
#include "support/catch.hpp"

namespace mimo::gpu_forward {

inline constexpr double kMaxRelativeL2 = 2e-5;
inline constexpr double kMaxAbs = 2e-4;

// The fixtures; MIMO_TEST_DATA_DIR in the environment overrides the build-time path (the GPU
// machine runs a copy of the tree elsewhere).
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

struct Loaded {
  model::ModelConfig config;
  io::Checkpoint checkpoint;
  model::ModelWeights weights;
};

inline std::unique_ptr<Loaded> load(const std::string& dir) {
  auto l = std::make_unique<Loaded>(
      Loaded{model::load_model_config(dir), io::Checkpoint::open(dir), {}});
  l->weights = model::bind_weights(l->config, l->checkpoint);
  return l;
}

inline void check_close(const std::vector<float>& got, const std::vector<float>& want,
                        const std::string& what) {
  REQUIRE(got.size() == want.size());
  double diff2 = 0, ref2 = 0, max_abs = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = double(got[i]) - want[i];
    diff2 += d * d;
    ref2 += double(want[i]) * want[i];
    max_abs = std::max(max_abs, std::isfinite(d) ? std::abs(d) : INFINITY);
  }
  const double rel = std::sqrt(diff2 / ref2);
  INFO(what << ": relative L2 " << rel << ", max abs " << max_abs);
  CHECK(rel <= kMaxRelativeL2);
  CHECK(max_abs <= kMaxAbs);
}

struct Fixture {
  std::unique_ptr<Loaded> model;
  std::unique_ptr<exec::CpuExecutor> cpu;
  std::unique_ptr<cuda::GpuExecutor> gpu;
  std::string ref;  // reference/ directory
};

inline Fixture open_fixture(const std::string& name, const std::string& reference_of) {
  Fixture f;
  f.model = load(fixture_dir(name));
  f.cpu = std::make_unique<exec::CpuExecutor>(f.model->config, f.model->weights, 2);
  f.gpu = std::make_unique<cuda::GpuExecutor>(
      f.model->config, cuda::upload_model(f.model->config, f.model->weights));
  f.ref = fixture_dir(reference_of) + "/reference/";
  return f;
}

}  // namespace mimo::gpu_forward
