// Writing spec-conformant .safetensors files and sharded-checkpoint indexes (tests and the
// quantizer produce checkpoints with it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.hpp"

namespace mimo::io {

// Collects tensors in memory, then writes: 8-byte little-endian header length, a JSON header
// padded with spaces to a multiple of 8 bytes, the tensors' bytes in insertion order.
class SafetensorsWriter {
 public:
  // Copies `bytes`, whose size must be numel(shape) * dtype_size(dtype). Throws
  // mimo::Error(kInvalidArgument) on a size mismatch, a repeated name or "__metadata__".
  void add(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape,
           std::span<const std::byte> bytes);
  void set_metadata(const std::string& key, const std::string& value);

  // The complete file image.
  std::vector<std::byte> serialize() const;
  // Writes the file through a temporary next to `path`, renamed on success. Throws kIo.
  void write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> bytes;
  };
  std::string header_json() const;

  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes DIR/model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: file}}.
// Throws mimo::Error(kIo).
void write_index(const std::string& dir, const std::map<std::string, std::string>& weight_map,
                 const std::map<std::string, std::string>& metadata = {});

}  // namespace mimo::io
