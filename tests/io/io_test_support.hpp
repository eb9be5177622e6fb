// Shared helpers for the io tests: random bytes, hand-built safetensors images, a scratch
// directory, and an assertion on mimo::Error's code and message.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "mimo/error.hpp"
#include "support/catch.hpp"

namespace mimo::io::testing {

inline std::vector<std::byte> random_bytes(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> bytes(count);
  for (std::byte& b : bytes) b = static_cast<std::byte>(rng() & 0xff);
  return bytes;
}

// [u64 LE header_length][header][data_size random bytes]; header_length defaults to the truth.
inline std::vector<std::byte> make_image(const std::string& header, std::size_t data_size,
                                         std::uint64_t header_length = UINT64_MAX) {
  if (header_length == UINT64_MAX) header_length = header.size();
  std::vector<std::byte> image;
  for (int i = 0; i < 8; ++i) image.push_back(static_cast<std::byte>(header_length >> (8 * i)));
  for (char c : header) image.push_back(static_cast<std::byte>(c));
  const auto data = random_bytes(data_size, 7);
  image.insert(image.end(), data.begin(), data.end());
  return image;
}

// A fresh directory under the system temp dir, removed with everything in it on scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device entropy;
    path_ = std::filesystem::temp_directory_path() /
            ("mimo_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(entropy()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Runs `action`, which must throw mimo::Error with `code` and a message containing every one
// of `fragments`.
template <typename Action>
void require_error(Action&& action, ErrorCode code, const std::vector<std::string>& fragments) {
  try {
    action();
  } catch (const Error& error) {
    const std::string message = error.what();
    INFO("message: " << message);
    CHECK(error.code() == code);
    for (const std::string& fragment : fragments) {
      INFO("expected fragment: " << fragment);
      CHECK(message.find(fragment) != std::string::npos);
    }
    return;
  }
  FAIL("no mimo::Error thrown; expected one containing \"" << fragments.front() << "\"");
}

}  // namespace mimo::io::testing
