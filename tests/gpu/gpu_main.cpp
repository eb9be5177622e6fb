// main() of the GPU suite: reports SKIP (exit 77, which ctest shows as skipped) with the reason
// when no CUDA device is usable; otherwise runs every GPU test case.
#include <cstdio>

#include "cuda/runtime/device_query.hpp"
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

int main(int argc, char** argv) {
  if (mimo::cuda::device_count() == 0) {
    std::printf("SKIP: GPU tests need a CUDA device: %s\n", mimo::cuda::describe_devices().c_str());
    return 77;
  }
  std::printf("GPU: %s\n", mimo::cuda::describe_devices().c_str());
  return Catch::Session().run(argc, argv);
}
