// Element sizes and safetensors spellings of DType.
#include "io/dtype.hpp"

#include <array>

namespace mimo::io {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, 16> kDTypes = {{
    {DType::kBool, "BOOL", 1},
    {DType::kU8, "U8", 1},
    {DType::kI8, "I8", 1},
    {DType::kU16, "U16", 2},
    {DType::kI16, "I16", 2},
    {DType::kU32, "U32", 4},
    {DType::kI32, "I32", 4},
    {DType::kU64, "U64", 8},
    {DType::kI64, "I64", 8},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kF32, "F32", 4},
    {DType::kF64, "F64", 8},
    {DType::kF8_E4M3, "F8_E4M3", 1},
    {DType::kF8_E5M2, "F8_E5M2", 1},
    {DType::kF8_E8M0, "F8_E8M0", 1},
}};

const DTypeInfo* info(DType dtype) noexcept {
  for (const DTypeInfo& entry : kDTypes) {
    if (entry.dtype == dtype) return &entry;
  }
  return nullptr;
}

}  // namespace

std::size_t dtype_size(DType dtype) noexcept {
  const DTypeInfo* entry = info(dtype);
  return entry ? entry->size : 0;
}

std::string_view dtype_name(DType dtype) noexcept {
  const DTypeInfo* entry = info(dtype);
  return entry ? entry->name : std::string_view("?");
}

std::optional<DType> parse_dtype(std::string_view name) noexcept {
  for (const DTypeInfo& entry : kDTypes) {
    if (entry.name == name) return entry.dtype;
  }
  return std::nullopt;
}

}  // namespace mimo::io
