// SafetensorsWriter and write_index.
#include "io/safetensors_writer.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "io/tensor_view.hpp"
#include "mimo/error.hpp"

namespace mimo::io {
namespace {

// Writes `chunks` to `path` via PATH.tmp and a rename, so readers never see a partial file.
void write_atomically(const std::string& path,
                      const std::vector<std::span<const std::byte>>& chunks) {
  const std::string temporary = path + ".tmp";
  const auto fail = [&](const char* what) {
    return Error(ErrorCode::kIo, fmt::format("{}: {}: {}", temporary, what,
                                             std::generic_category().message(errno)));
  };
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  if (out == nullptr) throw fail("cannot create");
  for (const auto& chunk : chunks) {
    if (!chunk.empty() && std::fwrite(chunk.data(), 1, chunk.size(), out) != chunk.size()) {
      const Error error = fail("cannot write");
      std::fclose(out);
      std::remove(temporary.c_str());
      throw error;
    }
  }
  if (std::fclose(out) != 0) {
    const Error error = fail("cannot write");
    std::remove(temporary.c_str());
    throw error;
  }
  std::error_code rename_error;
  std::filesystem::rename(temporary, path, rename_error);
  if (rename_error) {
    std::remove(temporary.c_str());
    throw Error(ErrorCode::kIo,
                fmt::format("{}: cannot rename into place: {}", path, rename_error.message()));
  }
}

std::array<std::byte, 8> little_endian_u64(std::uint64_t value) {
  std::array<std::byte, 8> bytes;
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
  return bytes;
}

std::span<const std::byte> as_bytes(const std::string& text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

}  // namespace

void SafetensorsWriter::add(const std::string& name, DType dtype,
                            const std::vector<std::int64_t>& shape,
                            std::span<const std::byte> bytes) {
  if (name == "__metadata__") {
    throw Error(ErrorCode::kInvalidArgument, "safetensors: \"__metadata__\" is not a tensor name");
  }
  for (const Entry& entry : entries_) {
    if (entry.name == name) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("safetensors: tensor \"{}\" added twice", name));
    }
  }
  std::size_t expected = dtype_size(dtype);
  for (std::int64_t dim : shape) {
    if (dim < 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("safetensors: tensor \"{}\": negative dimension in shape {}", name,
                              shape_string(shape)));
    }
    expected *= static_cast<std::size_t>(dim);
  }
  if (expected != bytes.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("safetensors: tensor \"{}\": shape {} of {} needs {} bytes, got {}",
                            name, shape_string(shape), dtype_name(dtype), expected, bytes.size()));
  }
  entries_.push_back({name, dtype, shape, {bytes.begin(), bytes.end()}});
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

std::string SafetensorsWriter::header_json() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::uint64_t offset = 0;
  for (const Entry& entry : entries_) {
    header[entry.name] = {{"dtype", dtype_name(entry.dtype)},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + entry.bytes.size()}}};
    offset += entry.bytes.size();
  }
  std::string text = header.dump();
  // Pad so the data section starts 8-byte aligned (the length prefix is 8 bytes too).
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

std::vector<std::byte> SafetensorsWriter::serialize() const {
  const std::string header = header_json();
  const auto length = little_endian_u64(header.size());
  std::vector<std::byte> image(length.begin(), length.end());
  const auto header_bytes = as_bytes(header);
  image.insert(image.end(), header_bytes.begin(), header_bytes.end());
  for (const Entry& entry : entries_) {
    image.insert(image.end(), entry.bytes.begin(), entry.bytes.end());
  }
  return image;
}

void SafetensorsWriter::write(const std::string& path) const {
  const std::string header = header_json();
  const auto length = little_endian_u64(header.size());
  std::vector<std::span<const std::byte>> chunks = {length, as_bytes(header)};
  for (const Entry& entry : entries_) chunks.emplace_back(entry.bytes);
  write_atomically(path, chunks);
}

void write_index(const std::string& dir, const std::map<std::string, std::string>& weight_map,
                 const std::map<std::string, std::string>& metadata) {
  const nlohmann::json index = {{"metadata", metadata}, {"weight_map", weight_map}};
  const std::string text = index.dump(2) + "\n";
  write_atomically((std::filesystem::path(dir) / "model.safetensors.index.json").string(),
                   {as_bytes(text)});
}

}  // namespace mimo::io
