// A zero-copy view of one tensor inside a memory-mapped checkpoint file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/dtype.hpp"

namespace mimo::io {

struct TensorView {
  std::string name;  // tensor name as stored ("model.layers.0.mlp.gate.weight")
  std::string file;  // path of the shard that holds it (for error messages)
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;  // row-major; empty for a 0-dim scalar
  const std::byte* data = nullptr;  // points into the mapping; valid while the file is open
  std::size_t nbytes = 0;

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
  }
  int rank() const { return static_cast<int>(shape.size()); }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data);
  }
};

// "[4096, 128]" - for messages.
std::string shape_string(const std::vector<std::int64_t>& shape);

}  // namespace mimo::io
