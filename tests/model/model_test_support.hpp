// Helpers for the model tests: asserting on mimo::Error and decoding one row of a bound weight
// back to floats (independently of the engines) to compare with what was written.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "mimo/error.hpp"
#include "model/weights.hpp"
#include "quant/codecs.hpp"
#include "support/catch.hpp"

namespace mimo::testing {

// Runs `body`, which must throw mimo::Error with `code` and a message containing every fragment.
template <typename Body>
void require_error(Body&& body, ErrorCode code, const std::vector<std::string>& fragments) {
  bool threw = false;
  try {
    body();
  } catch (const Error& error) {
    threw = true;
    const std::string message = error.what();
    INFO("message: " << message);
    CHECK(error.code() == code);
    for (const std::string& fragment : fragments) {
      INFO("expected fragment: " << fragment);
      CHECK(message.find(fragment) != std::string::npos);
    }
  }
  INFO("expected an error containing " << (fragments.empty() ? "" : fragments.front()));
  CHECK(threw);
}

// Row r of `w` as floats, decoded straight from the stored bytes and scales.
inline std::vector<float> decode_row(const model::LinearWeight& w, std::int64_t r) {
  const std::int64_t stored_row = w.row_offset + r;
  const std::uint8_t* row = w.data + stored_row * w.row_stride_bytes;
  std::vector<float> out(static_cast<std::size_t>(w.cols));
  auto scale_at = [&](std::int64_t index) {
    if (w.scale_dtype == io::DType::kBF16) {
      std::uint16_t bits;
      std::memcpy(&bits, w.scales + 2 * index, 2);
      return quant::bf16_to_float(bits);
    }
    float value;
    std::memcpy(&value, w.scales + 4 * index, 4);
    return value;
  };
  for (std::int64_t c = 0; c < w.cols; ++c) {
    float value = 0.0f;
    switch (w.format) {
      case model::WeightFormat::kF32:
        std::memcpy(&value, row + 4 * c, 4);
        break;
      case model::WeightFormat::kBF16:
      case model::WeightFormat::kF16: {
        std::uint16_t bits;
        std::memcpy(&bits, row + 2 * c, 2);
        value = w.format == model::WeightFormat::kBF16 ? quant::bf16_to_float(bits)
                                                       : quant::f16_to_float(bits);
        break;
      }
      case model::WeightFormat::kFp8Block:
        value = quant::fp8_e4m3_to_float(row[c]) *
                scale_at((stored_row / w.block_rows) * w.scale_cols + c / w.block_cols);
        break;
      case model::WeightFormat::kMxfp4: {
        std::uint8_t byte = row[c / 2];
        std::uint8_t code = c % 2 == 0 ? byte & 0x0F : byte >> 4;
        value = quant::fp4_e2m1_to_float(code) *
                quant::e8m0_to_float(w.scales[stored_row * w.scale_cols + c / 32]);
        break;
      }
    }
    out[static_cast<std::size_t>(c)] = value;
  }
  return out;
}

// Whether every row of `w` decodes exactly to `expected` ([rows * cols], row-major).
inline bool decodes_to(const model::LinearWeight& w, const std::vector<float>& expected) {
  if (static_cast<std::int64_t>(expected.size()) != w.rows * w.cols) return false;
  for (std::int64_t r = 0; r < w.rows; ++r) {
    std::vector<float> row = decode_row(w, r);
    for (std::int64_t c = 0; c < w.cols; ++c) {
      if (row[static_cast<std::size_t>(c)] != expected[static_cast<std::size_t>(r * w.cols + c)]) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace mimo::testing
