// See cuda_check.hpp.
#include "cuda/kernels/cuda_check.hpp"

#include <fmt/format.h>

#include "mimo/error.hpp"

namespace mimo::cuda {

void check(cudaError_t err, const std::string& what) {
  if (err != cudaSuccess) {
    throw Error(ErrorCode::kDevice, fmt::format("{}: {}", what, cudaGetErrorString(err)));
  }
}

}  // namespace mimo::cuda
