// Writing a float32 matrix as a NumPy .npy file (format 1.0, little-endian, C order).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mimo::cli {

void write_npy_f32(const std::string& path, const std::vector<float>& data, std::int64_t rows,
                   std::int64_t cols);

}  // namespace mimo::cli
