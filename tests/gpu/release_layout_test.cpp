// The MiMo-V2.5-Pro release layout on the GPU (docs/formats.md): a tiny checkpoint written in
// exactly that layout (tests/support/release_layout.hpp) computes, on the device, the logits of
// the same weights decoded once to F32 on the CPU, within the GPU forward's tolerance against
// the CPU (relative L2 <= 2e-5, max abs <= 2e-4: forward_test.cpp).
#include "support/release_layout.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "support/catch.hpp"
#include "support/fixtures.hpp"

namespace mimo {
namespace {

TEST_CASE("the MiMo-V2.5-Pro release layout on the GPU equals its F32 decode on the CPU") {
  namespace fs = std::filesystem;
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  const std::string data = env != nullptr ? env : MIMO_TEST_DATA_DIR;
  const fs::path root = fs::temp_directory_path() / "mimo-release-layout-gpu-test";
  fs::remove_all(root);
  const fs::path release = testing::write_release_checkpoint(root / "release", data);
  testing::write_f32_twin(release, root / "f32");
  ModelOptions gpu, cpu;
  gpu.device = Device::kCuda;
  cpu.device = Device::kCpu;
  const auto a = Model::load(release.string(), gpu)->new_session();
  const auto b = Model::load((root / "f32").string(), cpu)->new_session();
  const std::vector<std::int32_t> tokens = {3, 17, 99, 5, 201, 42, 7, 250, 11, 64, 128, 1};
  const std::vector<float> la = a->score(tokens);
  const std::vector<float> lb = b->score(tokens);
  const testing::Deviation d = testing::deviation(la, lb);
  INFO("relative L2 " << d.relative_l2 << ", max abs " << d.max_abs);
  CHECK(d.relative_l2 <= 2e-5);
  CHECK(d.max_abs <= 2e-4);
  fs::remove_all(root);
}

}  // namespace
}  // namespace mimo
