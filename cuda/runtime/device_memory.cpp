// DeviceBuffer / DeviceArena and the copy helpers over the CUDA runtime.
#include "cuda/runtime/device_memory.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <utility>

#include "cuda/kernels/cuda_check.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  check(cudaMalloc(&data_, bytes), fmt::format("cudaMalloc of {} bytes", bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void* DeviceArena::allocate(std::size_t bytes) {
  buffers_.emplace_back(bytes);
  bytes_ += bytes;
  return buffers_.back().get();
}

void* DeviceArena::upload(const void* host, std::size_t bytes) {
  void* dst = allocate(bytes);
  copy_to_device(dst, host, bytes);
  return dst;
}

void DeviceArena::absorb(DeviceArena&& other) {
  for (DeviceBuffer& b : other.buffers_) buffers_.push_back(std::move(b));
  bytes_ += other.bytes_;
  other.buffers_.clear();
  other.bytes_ = 0;
}

void copy_to_device(void* device_dst, const void* host_src, std::size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpy(device_dst, host_src, bytes, cudaMemcpyHostToDevice),
        fmt::format("copy of {} bytes to the device", bytes));
}

void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpy(host_dst, device_src, bytes, cudaMemcpyDeviceToHost),
        fmt::format("copy of {} bytes from the device", bytes));
}

void copy_on_device(void* device_dst, const void* device_src, std::size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpy(device_dst, device_src, bytes, cudaMemcpyDeviceToDevice),
        fmt::format("copy of {} bytes on the device", bytes));
  // A device-to-device cudaMemcpy may return before the copy ends: the source may be freed next.
  check(cudaStreamSynchronize(nullptr), "copy on the device");
}

void synchronize() {
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace mimo::cuda
