// Random weights for the CPU kernel tests.
#include "random_weights.hpp"

#include <cmath>
#include <cstring>

#include "quant/codecs.hpp"

namespace mimo::cpu::testing {

using model::WeightFormat;

float random_value(Rng& rng) {
  std::uniform_real_distribution<float> magnitude(0.05f, 1.0f);
  const float v = magnitude(rng);
  return (rng() & 1) ? v : -v;
}

std::vector<float> random_vector(Rng& rng, std::size_t n, float scale) {
  std::vector<float> v(n);
  for (float& x : v) x = random_value(rng) * scale;
  return v;
}

double exact_bf16(std::uint16_t bits) {
  const std::uint32_t f32 = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &f32, 4);
  return f;
}

double exact_f16(std::uint16_t bits) {
  const int sign = bits >> 15, e = (bits >> 10) & 31, m = bits & 1023;
  const double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return sign ? -v : v;
}

double exact_fp8_e4m3(std::uint8_t bits) {
  const int sign = bits >> 7, e = (bits >> 3) & 15, m = bits & 7;
  const double v = e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10);
  return sign ? -v : v;
}

double exact_fp4(std::uint8_t code) {
  const int sign = (code >> 3) & 1, e = (code >> 1) & 3, m = code & 1;
  const double v = e == 0 ? 0.5 * m : std::ldexp(2 + m, e - 2);
  return sign ? -v : v;
}

double exact_e8m0(std::uint8_t bits) {
  return std::ldexp(1.0, bits - 127);
}

std::unique_ptr<OwnedLinear> make_linear(WeightFormat format, std::int64_t rows, std::int64_t cols,
                                         Rng& rng, float scale, std::int64_t extra_rows,
                                         bool bf16_scales, int fp8_block) {
  auto out = std::make_unique<OwnedLinear>();
  model::LinearWeight& w = out->weight;
  const std::int64_t stored_rows = rows + extra_rows;
  w.name = "test.weight";
  w.format = format;
  w.rows = rows;
  w.cols = cols;
  w.row_offset = extra_rows;
  out->exact.resize(rows * cols);
  switch (format) {
    case WeightFormat::kF32:
    case WeightFormat::kBF16:
    case WeightFormat::kF16: {
      const int elem = format == WeightFormat::kF32 ? 4 : 2;
      w.row_stride_bytes = cols * elem;
      out->data.resize(stored_rows * cols * elem);
      for (std::int64_t i = 0; i < stored_rows * cols; ++i) {
        const float v = random_value(rng) * scale;
        std::uint8_t* p = out->data.data() + i * elem;
        double exact;
        if (format == WeightFormat::kF32) {
          std::memcpy(p, &v, 4);
          exact = v;
        } else {
          const std::uint16_t bits =
              format == WeightFormat::kBF16 ? quant::float_to_bf16(v) : quant::float_to_f16(v);
          std::memcpy(p, &bits, 2);
          exact = format == WeightFormat::kBF16 ? exact_bf16(bits) : exact_f16(bits);
        }
        if (i >= extra_rows * cols) out->exact[i - extra_rows * cols] = exact;
      }
      break;
    }
    case WeightFormat::kFp8Block: {
      w.block_rows = w.block_cols = fp8_block;
      const std::int64_t grid_rows = (stored_rows + fp8_block - 1) / fp8_block;
      w.scale_cols = (cols + fp8_block - 1) / fp8_block;
      w.scale_dtype = bf16_scales ? io::DType::kBF16 : io::DType::kF32;
      w.row_stride_bytes = cols;
      std::vector<double> grid(grid_rows * w.scale_cols);
      out->scales.resize(grid.size() * (bf16_scales ? 2 : 4));
      for (std::size_t b = 0; b < grid.size(); ++b) {
        // Scales differ per block (0.5x .. 2x) so a wrong block index shows.
        const float s =
            scale / 448.0f * std::ldexp(1.0f + std::abs(random_value(rng)), -1 + int(b % 3));
        if (bf16_scales) {
          const std::uint16_t bits = quant::float_to_bf16(s);
          std::memcpy(out->scales.data() + 2 * b, &bits, 2);
          grid[b] = exact_bf16(bits);
        } else {
          std::memcpy(out->scales.data() + 4 * b, &s, 4);
          grid[b] = s;
        }
      }
      out->data.resize(stored_rows * cols);
      for (std::int64_t r = 0; r < stored_rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
          std::uint8_t code = quant::float_to_fp8_e4m3(random_value(rng) * 448.0f);
          out->data[r * cols + c] = code;
          if (r >= extra_rows) {
            const double s = grid[(r / fp8_block) * w.scale_cols + c / fp8_block];
            out->exact[(r - extra_rows) * cols + c] = exact_fp8_e4m3(code) * static_cast<float>(s);
          }
        }
      }
      break;
    }
    case WeightFormat::kMxfp4: {
      w.block_rows = 1;
      w.block_cols = 32;
      w.scale_cols = (cols + 31) / 32;
      w.row_stride_bytes = cols / 2;
      out->data.resize(stored_rows * cols / 2);
      out->scales.resize(stored_rows * w.scale_cols);
      const int base_exponent = static_cast<int>(std::floor(std::log2(scale / 6.0f)));
      for (std::size_t i = 0; i < out->scales.size(); ++i) {
        out->scales[i] = static_cast<std::uint8_t>(127 + base_exponent + int(rng() % 3) - 1);
      }
      for (std::int64_t r = 0; r < stored_rows; ++r) {
        for (std::int64_t c = 0; c < cols; c += 2) {
          const std::uint8_t lo = rng() % 16, hi = rng() % 16;
          out->data[r * cols / 2 + c / 2] = static_cast<std::uint8_t>(lo | hi << 4);
          if (r >= extra_rows) {
            const double s = exact_e8m0(out->scales[r * w.scale_cols + c / 32]);
            out->exact[(r - extra_rows) * cols + c] = exact_fp4(lo) * s;
            out->exact[(r - extra_rows) * cols + c + 1] = exact_fp4(hi) * s;
          }
        }
      }
      break;
    }
  }
  w.data = out->data.data();
  w.scales = out->scales.empty() ? nullptr : out->scales.data();
  return out;
}

std::unique_ptr<OwnedVector> make_vector(std::int64_t size, Rng& rng, float center, float spread) {
  auto out = std::make_unique<OwnedVector>();
  out->data.resize(size * 2);
  out->exact.resize(size);
  for (std::int64_t i = 0; i < size; ++i) {
    const std::uint16_t bits = quant::float_to_bf16(center + spread * random_value(rng));
    std::memcpy(out->data.data() + 2 * i, &bits, 2);
    out->exact[i] = exact_bf16(bits);
  }
  out->weight.name = "test.vector";
  out->weight.dtype = io::DType::kBF16;
  out->weight.data = out->data.data();
  out->weight.size = size;
  return out;
}

}  // namespace mimo::cpu::testing
