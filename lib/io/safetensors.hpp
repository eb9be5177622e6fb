// Reading .safetensors files: mmap-backed, zero-copy, strictly validated.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/tensor_view.hpp"

namespace mimo::io {

// Parsed header of a safetensors byte image (8-byte little-endian header length, JSON header,
// data). `image` must stay alive while the returned views are used. `label` names the file in
// errors. Throws mimo::Error(kInvalidFile) naming the label, the tensor and what was expected.
struct SafetensorsHeader {
  std::map<std::string, TensorView> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
};
SafetensorsHeader parse_safetensors(std::span<const std::byte> image, const std::string& label);

// One memory-mapped .safetensors file.
class SafetensorsFile {
 public:
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const TensorView* find(const std::string& name) const;
  std::size_t file_size() const { return size_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* mapping_ = nullptr;
  std::size_t size_ = 0;
  SafetensorsHeader header_;
};

}  // namespace mimo::io
