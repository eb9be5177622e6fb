// The .npy test reader: round trip of hand-written files, clear rejection of other layouts.
#include "npy_reader.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "mimo/error.hpp"
#include "support/catch.hpp"

namespace mimo::cpu::testing {
namespace {

std::string write_npy(const std::string& name, const std::string& header_dict, const void* data,
                      std::size_t bytes) {
  std::string header = header_dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  const auto path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = static_cast<std::uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header;
  out.write(static_cast<const char*>(data), bytes);
  return path;
}

TEST_CASE("read_npy_f32 reads C-order float32 arrays and rejects other layouts") {
  const float values[6] = {1.5f, -2.0f, 3.25f, 4.0f, -5.5f, 6.0f};
  const std::string good = write_npy("mimo_cpu_npy_good.npy",
                                     "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                     values, sizeof values);
  const NpyArray<float> a = read_npy_f32(good);
  REQUIRE(a.shape == std::vector<std::int64_t>{2, 3});
  REQUIRE(std::memcmp(a.data.data(), values, sizeof values) == 0);
  REQUIRE_THROWS_AS(read_npy_i32(good), Error);
  const std::string fortran = write_npy(
      "mimo_cpu_npy_fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
      values, sizeof values);
  REQUIRE_THROWS_AS(read_npy_f32(fortran), Error);
  const std::string f64 =
      write_npy("mimo_cpu_npy_f64.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                values, sizeof values);
  REQUIRE_THROWS_AS(read_npy_f32(f64), Error);
  const std::string short_data =
      write_npy("mimo_cpu_npy_short.npy",
                "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", values, sizeof values);
  REQUIRE_THROWS_AS(read_npy_f32(short_data), Error);
  for (const auto& p : {good, fortran, f64, short_data}) std::filesystem::remove(p);
}

}  // namespace
}  // namespace mimo::cpu::testing
