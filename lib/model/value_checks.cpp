// Load-time value checks (see value_checks.hpp).
#include "model/value_checks.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/codecs.hpp"

namespace mimo::model {

namespace {

// "[3, 1]" for flat index 7 of a [4, 2] grid.
std::string index_string(const std::vector<std::int64_t>& shape, std::int64_t flat) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    const std::int64_t extent = shape[d] > 0 ? shape[d] : 1;
    index[d] = flat % extent;
    flat /= extent;
  }
  return io::shape_string(index);
}

bool bad_scale(float v) {
  return !std::isfinite(v) || v < 0.0f;
}

float element(const io::TensorView& t, std::int64_t i) {
  if (t.dtype == io::DType::kBF16) {
    std::uint16_t half = 0;
    std::memcpy(&half, t.data + 2 * i, sizeof half);
    const std::uint32_t bits = std::uint32_t{half} << 16;
    float v = 0.0f;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  if (t.dtype == io::DType::kF32) {
    float v = 0.0f;
    std::memcpy(&v, t.data + 4 * i, sizeof v);
    return v;
  }
  return quant::e8m0_to_float(static_cast<std::uint8_t>(t.data[i]));
}

}  // namespace

std::string block_scale_problem(const io::TensorView& scales) {
  const std::int64_t n = scales.numel();
  std::int64_t i = 0;
  if (scales.dtype == io::DType::kU8 || scales.dtype == io::DType::kF8_E8M0) {
    // MXFP4 scales can be gigabytes: find the one bad code with memchr.
    const void* nan = std::memchr(scales.data, quant::kE8M0NaN, static_cast<std::size_t>(n));
    if (nan == nullptr) return {};
    i = static_cast<const std::byte*>(nan) - scales.data;
  }
  for (; i < n; ++i) {
    const float v = element(scales, i);
    if (!bad_scale(v)) continue;
    return fmt::format(
        "tensor {} ({}): block scale at index {} {} is {}; scales must be finite and not "
        "negative",
        scales.name, scales.file, i, index_string(scales.shape, i), v);
  }
  return {};
}

std::string non_finite_problem(const io::TensorView& t) {
  // An all-ones exponent field is NaN or infinity in each format.
  const auto bad = [&](std::int64_t i) {
    if (t.dtype == io::DType::kF32) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, t.data + 4 * i, sizeof bits);
      return (bits & 0x7F800000u) == 0x7F800000u;
    }
    std::uint16_t bits = 0;
    std::memcpy(&bits, t.data + 2 * i, sizeof bits);
    const std::uint16_t exponent = t.dtype == io::DType::kBF16 ? 0x7F80 : 0x7C00;
    return (bits & exponent) == exponent;
  };
  if (t.dtype != io::DType::kF32 && t.dtype != io::DType::kBF16 && t.dtype != io::DType::kF16) {
    return {};
  }
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    if (!bad(i)) continue;
    return fmt::format("tensor {} ({}): element {} {} is not finite (NaN or infinity)", t.name,
                       t.file, i, index_string(t.shape, i));
  }
  return {};
}

}  // namespace mimo::model
