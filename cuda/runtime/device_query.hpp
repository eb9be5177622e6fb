// Which CUDA devices this process can use. Safe on machines without a GPU or driver.
#pragma once

#include <string>

namespace mimo::cuda {

// Number of usable CUDA devices; 0 when the driver is missing or reports an error.
int device_count() noexcept;
// Why device_count() is 0 ("no CUDA driver: ..."), or the name of device 0.
std::string describe_devices();

}  // namespace mimo::cuda
