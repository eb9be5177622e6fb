// Device discovery through the CUDA runtime (never the driver library directly).
#include <cuda_runtime.h>

#include "cuda/kernels/cuda_check.hpp"
#include "cuda/runtime/device_query.hpp"

namespace mimo::cuda {

int device_count() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return n;
}

std::string describe_devices() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device: ") + cudaGetErrorString(err);
  }
  if (n == 0) return "no CUDA device present";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "CUDA device 0 unreadable";
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) + " SMs)";
}

int current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

DeviceGuard::DeviceGuard() {
  cudaGetDevice(&previous_);
}

DeviceGuard::DeviceGuard(int device) : DeviceGuard() {
  check(cudaSetDevice(device), "cudaSetDevice");
}

DeviceGuard::DeviceGuard(int device, const std::nothrow_t&) noexcept : DeviceGuard() {
  if (cudaSetDevice(device) != cudaSuccess) cudaGetLastError();
}

DeviceGuard::~DeviceGuard() {
  cudaSetDevice(previous_);
}

}  // namespace mimo::cuda
