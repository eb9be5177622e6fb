// Owning device allocations and host <-> device copies, behind an interface with no CUDA types.
// Every failure throws mimo::Error(kDevice) naming the operation and the size.
#pragma once

#include <cstddef>
#include <vector>

namespace mimo::cuda {

// One cudaMalloc'd block, freed on destruction. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return data_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// Many buffers with one lifetime (a model's weights): upload() returns a device copy.
class DeviceArena {
 public:
  void* allocate(std::size_t bytes);
  void* upload(const void* host, std::size_t bytes);
  // Takes over `other`'s allocations (they live as long as this arena).
  void absorb(DeviceArena&& other);
  std::size_t bytes() const { return bytes_; }

 private:
  std::vector<DeviceBuffer> buffers_;
  std::size_t bytes_ = 0;
};

void copy_to_device(void* device_dst, const void* host_src, std::size_t bytes);
void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes);
// Device to device; returns once the copy is done.
void copy_on_device(void* device_dst, const void* device_src, std::size_t bytes);
// Waits for all work on the device; throws on any asynchronous error it reports.
void synchronize();

template <class T>
DeviceBuffer to_device(const std::vector<T>& host) {
  DeviceBuffer buffer(host.size() * sizeof(T));
  copy_to_device(buffer.get(), host.data(), buffer.bytes());
  return buffer;
}

template <class T>
std::vector<T> to_host(const DeviceBuffer& buffer, std::size_t count) {
  std::vector<T> host(count);
  copy_to_host(host.data(), buffer.get(), count * sizeof(T));
  return host;
}

}  // namespace mimo::cuda
