// Element types a safetensors checkpoint may hold, with their names in the file format.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace mimo::io {

enum class DType {
  kBool,
  kU8,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kU64,
  kI64,
  kF16,
  kBF16,
  kF32,
  kF64,
  kF8_E4M3,  // "F8_E4M3" (float8_e4m3fn: no infinities, one NaN pattern per sign)
  kF8_E5M2,  // "F8_E5M2"
  kF8_E8M0,  // "F8_E8M0" (float8_e8m0fnu: exponent-only MX scales, 2^(e-127), 0xFF = NaN)
};

// Bytes per element.
std::size_t dtype_size(DType dtype) noexcept;
// The safetensors spelling ("BF16", "F8_E4M3", ...).
std::string_view dtype_name(DType dtype) noexcept;
// Parses the safetensors spelling; nullopt when unknown.
std::optional<DType> parse_dtype(std::string_view name) noexcept;

}  // namespace mimo::io
