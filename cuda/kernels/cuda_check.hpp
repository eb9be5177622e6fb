// Turning a failed CUDA runtime call into mimo::Error(kDevice) naming what was being done.
#pragma once

#include <cuda_runtime.h>

#include <string>

namespace mimo::cuda {

void check(cudaError_t err, const std::string& what);

}  // namespace mimo::cuda
