// Test helper: reads NumPy .npy files (format 1.0-3.0) holding little-endian float32 or int32
// arrays in C order - what the reference fixtures contain. Anything else is a clear error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mimo::cpu::testing {

template <typename T>
struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<T> data;
};

NpyArray<float> read_npy_f32(const std::string& path);
NpyArray<std::int32_t> read_npy_i32(const std::string& path);

}  // namespace mimo::cpu::testing
