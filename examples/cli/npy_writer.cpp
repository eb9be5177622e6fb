// .npy writer: magic, version 1.0, header dict padded to a multiple of 64 bytes, raw data.
#include "cli/npy_writer.hpp"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

namespace mimo::cli {

void write_npy_f32(const std::string& path, const std::vector<float>& data, std::int64_t rows,
                   std::int64_t cols) {
  if (static_cast<std::int64_t>(data.size()) != rows * cols) {
    throw std::runtime_error(
        fmt::format("npy {}: {} values for shape ({}, {})", path, data.size(), rows, cols));
  }
  std::string header =
      fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, cols);
  const std::size_t preamble = 10;  // magic (6) + version (2) + header length (2)
  std::size_t total = preamble + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", path));
  const std::uint16_t length = static_cast<std::uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  const char length_le[2] = {static_cast<char>(length & 0xff), static_cast<char>(length >> 8)};
  out.write(length_le, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * sizeof(float)));
  if (!out) throw std::runtime_error(fmt::format("short write to {}", path));
}

}  // namespace mimo::cli
