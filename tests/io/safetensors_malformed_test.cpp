// parse_safetensors and SafetensorsFile::open on malformed input: each case names the file, the
// tensor and what was wrong, with ErrorCode::kInvalidFile (or kIo for OS failures).
#include <fstream>

#include "io/safetensors.hpp"
#include "io_test_support.hpp"

namespace mimo::io {
namespace {

using testing::make_image;
using testing::require_error;

const std::string kLabel = "bad.safetensors";

void require_invalid(const std::vector<std::byte>& image, const std::string& fragment) {
  require_error([&] { parse_safetensors(image, kLabel); }, ErrorCode::kInvalidFile,
                {kLabel, fragment});
}

void require_invalid(const std::string& header, std::size_t data_size,
                     const std::string& fragment) {
  require_invalid(make_image(header, data_size), fragment);
}

}  // namespace

TEST_CASE("malformed: file framing") {
  SECTION("shorter than the length prefix") {
    require_invalid(testing::random_bytes(5, 1), "file is 5 bytes, shorter than the 8-byte");
  }
  SECTION("header length 0") {
    require_invalid(make_image("", 16), "header length is 0");
  }
  SECTION("header length past the end of the file") {
    require_invalid(make_image("{}", 4, 1000), "header length 1000 runs past the end of the 14");
  }
  SECTION("header length above the 100 MB limit") {
    require_invalid(make_image("{}", 0, 100'000'001), "exceeds the 100000000-byte limit");
  }
}

TEST_CASE("malformed: header JSON") {
  SECTION("not JSON") {
    require_invalid("{not json}", 0, "invalid JSON");
  }
  SECTION("a JSON array") {
    require_invalid("[1, 2]", 0, "starting with '{'");
  }
  SECTION("leading whitespace") {
    require_invalid(" {}", 0, "starting with '{'");
  }
  SECTION("invalid UTF-8 in a key") {
    require_invalid("{\"\xff\xfe\": 1}", 0, "invalid JSON");
  }
  SECTION("duplicate tensor name") {
    require_invalid(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                    R"("a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                    4, "duplicate JSON key \"a\"");
  }
  SECTION("absurd nesting") {
    require_invalid("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}", 0,
                    "nested deeper");
  }
  SECTION("metadata that is not string -> string") {
    require_invalid(R"({"__metadata__":{"format":1}})", 0,
                    "__metadata__ \"format\" must be a string");
    require_invalid(R"({"__metadata__":["pt"]})", 0, "__metadata__ must be an object");
  }
  SECTION("trailing space padding is allowed") {
    const auto image = make_image(R"({"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}})"
                                  "      ",
                                  4);
    const auto header = parse_safetensors(image, kLabel);
    REQUIRE(header.tensors.size() == 1);
    CHECK(header.tensors.at("a").data == image.data() + image.size() - 4);
  }
}

TEST_CASE("malformed: tensor entries") {
  SECTION("unknown dtype") {
    require_invalid(R"({"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", 1,
                    "tensor \"w\": unknown dtype \"F4\"");
  }
  SECTION("negative dimension") {
    require_invalid(R"({"w":{"dtype":"U8","shape":[3,-2],"data_offsets":[0,6]}})", 6,
                    "tensor \"w\": shape dimension 1 is -2");
  }
  SECTION("non-integer dimension") {
    require_invalid(R"({"w":{"dtype":"U8","shape":[2.5],"data_offsets":[0,2]}})", 2,
                    "shape dimension 0 is 2.5");
  }
  SECTION("dimension beyond int64") {
    require_invalid(R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})",
                    0, "shape dimension 0 is 18446744073709551615");
  }
  SECTION("shape * dtype size != span") {
    require_invalid(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20,
                    "tensor \"w\": shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] "
                    "span 20");
  }
  SECTION("shape overflowing 64 bits") {
    require_invalid(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})",
                    0, "tensor \"w\": shape [4294967296, 4294967296] of F32 overflows");
    require_invalid(
        R"({"w":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", 0,
        "overflows");
    // 2^32 * 2^31 fits uint64 but not int64: the element count must stay representable.
    require_invalid(
        R"({"w":{"dtype":"U8","shape":[4294967296,2147483648,0],"data_offsets":[0,0]}})", 0,
        "overflows");
  }
  SECTION("begin > end") {
    require_invalid(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[8,4]}})", 8,
                    "tensor \"w\": data_offsets [8, 4] has begin > end");
  }
  SECTION("offsets past the data section") {
    require_invalid(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8,
                    "tensor \"w\": data_offsets [0, 16] run past the end of the 8-byte data");
  }
  SECTION("malformed data_offsets") {
    require_invalid(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0]}})", 4,
                    "data_offsets must be [begin, end]");
    require_invalid(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[-4,0]}})", 4,
                    "data_offsets must be [begin, end]");
  }
  SECTION("missing and unexpected fields") {
    require_invalid(R"({"w":{"dtype":"U8","shape":[4]}})", 4,
                    "tensor \"w\": missing field \"data_offsets\"");
    require_invalid(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":1}})", 4,
                    "tensor \"w\": unexpected field \"x\"");
    require_invalid(R"({"w":[1]})", 4, "tensor \"w\": entry must be an object");
  }
}

TEST_CASE("malformed: data layout") {
  SECTION("overlapping tensors") {
    require_invalid(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                    R"("b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})",
                    12, "tensor \"b\" (data_offsets [4, 12]) overlaps tensor \"a\"");
  }
  SECTION("gap between tensors") {
    require_invalid(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                    R"("b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})",
                    12, "4-byte gap before tensor \"b\" at data offset 8");
  }
  SECTION("first tensor not at offset 0") {
    require_invalid(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6,
                    "2-byte gap before tensor \"a\"");
  }
  SECTION("trailing bytes") {
    require_invalid(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", 12,
                    "4 trailing bytes after the last tensor");
    require_invalid("{}", 3, "3 trailing bytes after the last tensor");
  }
  SECTION("empty tensors may sit at any tensor boundary") {
    const auto header =
        parse_safetensors(make_image(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                     R"("e":{"dtype":"F32","shape":[0,7],"data_offsets":[4,4]},)"
                                     R"("b":{"dtype":"U8","shape":[],"data_offsets":[4,5]}})",
                                     5),
                          kLabel);
    CHECK(header.tensors.at("e").nbytes == 0);
    CHECK(header.tensors.at("b").numel() == 1);
  }
}

TEST_CASE("SafetensorsFile::open reports OS failures and bad files with the path") {
  testing::ScratchDir dir;
  require_error([&] { SafetensorsFile::open(dir.file("missing.safetensors")); }, ErrorCode::kIo,
                {"missing.safetensors", "cannot open", "No such file"});
  require_error([&] { SafetensorsFile::open(dir.path()); }, ErrorCode::kIo, {"not a regular file"});
  const std::string empty = dir.file("empty.safetensors");
  std::ofstream(empty).close();
  require_error([&] { SafetensorsFile::open(empty); }, ErrorCode::kInvalidFile,
                {empty, "file is 0 bytes"});
  const std::string lying = dir.file("lying.safetensors");
  const auto image = make_image("{}", 0, 64);
  std::ofstream(lying, std::ios::binary)
      .write(reinterpret_cast<const char*>(image.data()),
             static_cast<std::streamsize>(image.size()));
  require_error([&] { SafetensorsFile::open(lying); }, ErrorCode::kInvalidFile,
                {lying, "header length 64 runs past the end"});
}

}  // namespace mimo::io
