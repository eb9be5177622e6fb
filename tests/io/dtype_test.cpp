// DType sizes and safetensors spellings.
#include "io/dtype.hpp"

#include "support/catch.hpp"

namespace mimo::io {

TEST_CASE("every dtype has its safetensors name and size, and names parse back") {
  struct Expected {
    DType dtype;
    const char* name;
    std::size_t size;
  };
  const Expected table[] = {
      {DType::kBool, "BOOL", 1},       {DType::kU8, "U8", 1},
      {DType::kI8, "I8", 1},           {DType::kU16, "U16", 2},
      {DType::kI16, "I16", 2},         {DType::kU32, "U32", 4},
      {DType::kI32, "I32", 4},         {DType::kU64, "U64", 8},
      {DType::kI64, "I64", 8},         {DType::kF16, "F16", 2},
      {DType::kBF16, "BF16", 2},       {DType::kF32, "F32", 4},
      {DType::kF64, "F64", 8},         {DType::kF8_E4M3, "F8_E4M3", 1},
      {DType::kF8_E5M2, "F8_E5M2", 1}, {DType::kF8_E8M0, "F8_E8M0", 1},
  };
  for (const Expected& e : table) {
    INFO(e.name);
    CHECK(dtype_name(e.dtype) == e.name);
    CHECK(dtype_size(e.dtype) == e.size);
    REQUIRE(parse_dtype(e.name).has_value());
    CHECK(*parse_dtype(e.name) == e.dtype);
  }
}

TEST_CASE("unknown or differently spelled dtypes do not parse") {
  for (const char* name : {"", "F4", "bf16", "float32", "F8_E4M3FNUZ", "C64", "BF16 "}) {
    INFO(name);
    CHECK_FALSE(parse_dtype(name).has_value());
  }
}

}  // namespace mimo::io
