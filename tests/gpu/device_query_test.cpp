// The device the GPU suite runs on is a Hopper part, as the sm_90a build requires.
#include <cuda_runtime.h>

#include "support/catch.hpp"

TEST_CASE("GPU is compute capability 9.0 (sm_90a kernels need it)", "[gpu]") {
  cudaDeviceProp prop{};
  REQUIRE(cudaGetDeviceProperties(&prop, 0) == cudaSuccess);
  CHECK(prop.major == 9);
  CHECK(prop.minor == 0);
}
