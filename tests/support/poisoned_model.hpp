// A fixture checkpoint with one embedding row poisoned (NaN or infinity): every step that reads
// that token computes non-finite logits, for the tests that they are reported, not passed on.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

namespace mimo::testing {

// Copies the BF16 single-file checkpoint `model` into `dir` with the embedding row of `token` set
// to `value` (BF16 bits: 0x7FC0 NaN, 0x7F80 +inf).
inline void write_poisoned_model(const std::string& model, const std::filesystem::path& dir,
                                 int token, std::uint16_t value) {
  std::filesystem::copy_file(model + "/config.json", dir / "config.json");
  std::ifstream in(model + "/model.safetensors", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, header_size));
  const auto& embed = header.at("model.embed_tokens.weight");
  const std::size_t hidden = embed.at("shape")[1];
  const std::size_t begin = 8 + header_size + embed.at("data_offsets")[0].get<std::size_t>();
  for (std::size_t i = 0; i < hidden; ++i) {
    std::memcpy(&bytes[begin + (token * hidden + i) * 2], &value, 2);
  }
  std::ofstream(dir / "model.safetensors", std::ios::binary) << bytes;
}

}  // namespace mimo::testing
