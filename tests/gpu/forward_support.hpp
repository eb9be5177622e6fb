// Helpers of the GPU suite's whole-forward tests (forward_test.cpp, prefill_chunk_test.cpp): the
// fixtures of tests/data/models loaded for a CPU and a GPU executor, and the tolerance the GPU
// forward is held to against the CPU reference (forward_test.cpp says why these numbers).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "exec/cpu_executor.hpp"
#include "support/catch.hpp"
#include "support/fixtures.hpp"

namespace mimo::gpu_forward {

inline constexpr double kMaxRelativeL2 = 2e-5;
inline constexpr double kMaxAbs = 2e-4;

using testing::fixture_dir;
using testing::read_tokens;

inline void check_close(const std::vector<float>& got, const std::vector<float>& want,
                        const std::string& what) {
  const testing::Deviation d = testing::deviation(got, want);
  INFO(what << ": relative L2 " << d.relative_l2 << ", max abs " << d.max_abs);
  CHECK(d.relative_l2 <= kMaxRelativeL2);
  CHECK(d.max_abs <= kMaxAbs);
}

struct Fixture {
  std::unique_ptr<testing::LoadedFixture> model;
  std::unique_ptr<exec::CpuExecutor> cpu;
  std::unique_ptr<cuda::GpuExecutor> gpu;
  std::string ref;  // reference/ directory
};

inline Fixture open_fixture(const std::string& name, const std::string& reference_of) {
  Fixture f;
  f.model = testing::load_fixture(fixture_dir(name));
  f.cpu = std::make_unique<exec::CpuExecutor>(f.model->config, f.model->weights, 2);
  f.gpu = std::make_unique<cuda::GpuExecutor>(
      f.model->config, cuda::upload_model(f.model->config, f.model->weights));
  f.ref = fixture_dir(reference_of) + "/reference/";
  return f;
}

}  // namespace mimo::gpu_forward
