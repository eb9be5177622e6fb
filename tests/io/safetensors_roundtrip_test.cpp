// SafetensorsWriter -> file -> SafetensorsFile round trips: every dtype, scalars, empty tensors,
// metadata, and the layout the writer produces.
#include <cstring>

#include "io/safetensors.hpp"
#include "io/safetensors_writer.hpp"
#include "io_test_support.hpp"

namespace mimo::io {
namespace {

using testing::random_bytes;
using testing::ScratchDir;

constexpr DType kAllDTypes[] = {
    DType::kBool, DType::kU8,      DType::kI8,      DType::kU16,     DType::kI16,  DType::kU32,
    DType::kI32,  DType::kU64,     DType::kI64,     DType::kF16,     DType::kBF16, DType::kF32,
    DType::kF64,  DType::kF8_E4M3, DType::kF8_E5M2, DType::kF8_E8M0,
};

struct Written {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

void require_same(const TensorView& view, const Written& expected, const std::string& path) {
  INFO(expected.name);
  CHECK(view.name == expected.name);
  CHECK(view.file == path);
  CHECK(view.dtype == expected.dtype);
  CHECK(view.shape == expected.shape);
  REQUIRE(view.nbytes == expected.bytes.size());
  if (!expected.bytes.empty()) {
    CHECK(std::memcmp(view.data, expected.bytes.data(), view.nbytes) == 0);
  }
}

}  // namespace

TEST_CASE("each dtype round-trips as a matrix, a 0-dim scalar and an empty tensor") {
  ScratchDir dir;
  std::uint32_t seed = 1;
  for (DType dtype : kAllDTypes) {
    INFO(dtype_name(dtype));
    const std::size_t size = dtype_size(dtype);
    const std::vector<Written> tensors = {
        {"matrix", dtype, {3, 5}, random_bytes(15 * size, seed++)},
        {"scalar", dtype, {}, random_bytes(size, seed++)},
        {"empty", dtype, {4, 0, 2}, {}},
    };
    SafetensorsWriter writer;
    for (const Written& t : tensors) writer.add(t.name, t.dtype, t.shape, t.bytes);
    const std::string path = dir.file(std::string(dtype_name(dtype)) + ".safetensors");
    writer.write(path);

    const auto file = SafetensorsFile::open(path);
    REQUIRE(file->tensors().size() == 3);
    for (const Written& t : tensors) {
      const TensorView* view = file->find(t.name);
      REQUIRE(view != nullptr);
      require_same(*view, t, path);
    }
    CHECK(file->find("scalar")->numel() == 1);
    CHECK(file->find("scalar")->rank() == 0);
    CHECK(file->find("empty")->numel() == 0);
    CHECK(file->find("missing") == nullptr);
    CHECK(file->metadata().empty());
  }
}

TEST_CASE("a file mixing all dtypes keeps every tensor's bytes, in insertion order") {
  ScratchDir dir;
  std::vector<Written> tensors;
  std::uint32_t seed = 100;
  for (DType dtype : kAllDTypes) {
    const std::int64_t rows = 1 + static_cast<std::int64_t>(seed % 7);
    tensors.push_back({"t." + std::string(dtype_name(dtype)),
                       dtype,
                       {rows, 3},
                       random_bytes(static_cast<std::size_t>(rows) * 3 * dtype_size(dtype), seed)});
    ++seed;
  }
  SafetensorsWriter writer;
  for (const Written& t : tensors) writer.add(t.name, t.dtype, t.shape, t.bytes);
  writer.set_metadata("format", "pt");
  writer.set_metadata("producer", "mimo tests \xc3\xa9");
  const std::string path = dir.file("mixed.safetensors");
  writer.write(path);

  const auto file = SafetensorsFile::open(path);
  REQUIRE(file->tensors().size() == tensors.size());
  const std::byte* expected_data = nullptr;
  for (const Written& t : tensors) {
    const TensorView* view = file->find(t.name);
    REQUIRE(view != nullptr);
    require_same(*view, t, path);
    // Insertion order: each tensor starts where the previous one ended.
    if (expected_data != nullptr) CHECK(view->data == expected_data);
    expected_data = view->data + view->nbytes;
  }
  CHECK(file->metadata() ==
        std::map<std::string, std::string>{{"format", "pt"}, {"producer", "mimo tests \xc3\xa9"}});
  CHECK(file->file_size() == static_cast<std::size_t>(std::filesystem::file_size(path)));
}

TEST_CASE("the writer pads the header with spaces so the data starts 8-byte aligned") {
  for (int name_length = 1; name_length <= 9; ++name_length) {
    SafetensorsWriter writer;
    const auto bytes = random_bytes(6, static_cast<std::uint32_t>(name_length));
    writer.add(std::string(static_cast<std::size_t>(name_length), 'w'), DType::kBF16, {3}, bytes);
    const std::vector<std::byte> image = writer.serialize();
    std::uint64_t header_length = 0;
    for (int i = 7; i >= 0; --i) {
      header_length = (header_length << 8) | static_cast<std::uint8_t>(image[i]);
    }
    INFO("name length " << name_length);
    CHECK(header_length % 8 == 0);
    CHECK(image.size() == 8 + header_length + bytes.size());
    CHECK(static_cast<char>(image[8]) == '{');
    const auto header = parse_safetensors(image, "memory");
    const TensorView& view = header.tensors.begin()->second;
    CHECK(view.data == image.data() + 8 + header_length);
    CHECK(std::memcmp(view.data, bytes.data(), bytes.size()) == 0);
  }
}

TEST_CASE("a header with no tensors and an empty data section is valid") {
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  const auto image = writer.serialize();
  const auto header = parse_safetensors(image, "empty.safetensors");
  CHECK(header.tensors.empty());
  CHECK(header.metadata.at("format") == "pt");
}

TEST_CASE("the writer rejects inconsistent tensors") {
  SafetensorsWriter writer;
  const auto bytes = random_bytes(8, 3);
  testing::require_error([&] { writer.add("w", DType::kF32, {3}, bytes); },
                         ErrorCode::kInvalidArgument, {"\"w\"", "needs 12 bytes, got 8"});
  writer.add("w", DType::kF32, {2}, bytes);
  testing::require_error([&] { writer.add("w", DType::kF32, {2}, bytes); },
                         ErrorCode::kInvalidArgument, {"added twice"});
  testing::require_error([&] { writer.add("__metadata__", DType::kU8, {8}, bytes); },
                         ErrorCode::kInvalidArgument, {"__metadata__"});
  testing::require_error([&] { writer.add("n", DType::kU8, {-8}, bytes); },
                         ErrorCode::kInvalidArgument, {"negative dimension"});
}

}  // namespace mimo::io
