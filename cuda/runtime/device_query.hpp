// Which CUDA devices this process can use. Safe on machines without a GPU or driver.
#pragma once

#include <new>
#include <string>

namespace mimo::cuda {

// Number of usable CUDA devices; 0 when the driver is missing or reports an error.
int device_count() noexcept;
// Why device_count() is 0 ("no CUDA driver: ..."), or the name of device 0.
std::string describe_devices();
// The calling thread's current CUDA device.
int current_device();

// Restores the calling thread's current device when it ends (the caller may drive its own GPU
// work); given a device, makes it current meanwhile (throwing kDevice when it cannot, or, with
// std::nothrow - for destructors - going on where it is).
class DeviceGuard {
 public:
  DeviceGuard();
  explicit DeviceGuard(int device);
  DeviceGuard(int device, const std::nothrow_t&) noexcept;
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace mimo::cuda
