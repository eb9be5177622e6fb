// .npy parsing: magic, version, header dict ('descr', 'fortran_order', 'shape'), raw data.
#include "npy_reader.hpp"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>

#include "mimo/error.hpp"

namespace mimo::cpu::testing {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kInvalidFile, fmt::format("{}: {}", path, what));
}

template <typename T>
NpyArray<T> read_npy(const std::string& path, const char* descr) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, fmt::format("{}: cannot open", path));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) fail(path, "not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(path, "truncated header");
    std::uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    header_start = 12;
  } else {
    fail(path, fmt::format("unsupported .npy version {}", major));
  }
  if (header_start + header_len > bytes.size()) fail(path, "truncated header");
  const std::string header = bytes.substr(header_start, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'")) || m[1] != descr) {
    fail(path, fmt::format("dtype must be '{}' (header: {})", descr, header));
  }
  if (!std::regex_search(header, std::regex("'fortran_order':\\s*False"))) {
    fail(path, "only C-order arrays are supported");
  }
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) {
    fail(path, "header has no shape");
  }
  NpyArray<T> out;
  std::int64_t count = 1;
  const std::string dims = m[1];
  const std::regex number("\\d+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    out.shape.push_back(std::stoll(it->str()));
    count *= out.shape.back();
  }
  const std::size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != static_cast<std::size_t>(count) * sizeof(T)) {
    fail(path, fmt::format("{} data bytes for {} elements", bytes.size() - data_start, count));
  }
  out.data.resize(count);
  std::memcpy(out.data.data(), bytes.data() + data_start, count * sizeof(T));
  return out;
}

}  // namespace

NpyArray<float> read_npy_f32(const std::string& path) {
  return read_npy<float>(path, "<f4");
}
NpyArray<std::int32_t> read_npy_i32(const std::string& path) {
  return read_npy<std::int32_t>(path, "<i4");
}

}  // namespace mimo::cpu::testing
