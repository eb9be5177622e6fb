// Helpers of the GPU suite: fresh random inputs, host weights in every stored format (bound as
// model::LinearWeight exactly as the checkpoint binder does), NaN-poisoned device outputs, and
// float64 references built from the CPU's own row decoder.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu/weight_rows.hpp"
#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "model/weights.hpp"
#include "quant/block_formats.hpp"
#include "quant/codecs.hpp"

namespace mimo::gpu_test {

// Device buffers of split activations (F16 hi / lo halves and per-row 1 / scale), as rmsnorm /
// split_activations write them for the tensor-core paths.
struct SplitBuffers {
  cuda::DeviceBuffer hi, lo, inv;
  cuda::SplitActivations view;
  SplitBuffers(int rows, int cols)
      : hi(std::size_t(rows) * cols * 2), lo(std::size_t(rows) * cols * 2), inv(rows * 4) {
    view = cuda::SplitActivations{static_cast<std::uint16_t*>(hi.get()),
                                  static_cast<std::uint16_t*>(lo.get()),
                                  static_cast<float*>(inv.get()), cols};
  }
  // Row t alone (a view of one row, for a one-token product).
  cuda::SplitActivations row(int t) const {
    cuda::SplitActivations one = view;
    one.hi += std::size_t(t) * view.cols;
    one.lo += std::size_t(t) * view.cols;
    one.inv_scale += t;
    return one;
  }
};

// A new seed per call, so every run draws fresh inputs; tests print it on failure.
inline std::uint64_t fresh_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

inline std::vector<float> random_floats(std::mt19937_64& rng, std::size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A weight with its host storage. `w` points into the vectors: do not copy, only move the
// whole object before taking w's address-dependent fields (the factories return by value
// through guaranteed elision).
struct HostWeight {
  std::vector<std::uint8_t> data;
  std::vector<std::uint8_t> scales;
  model::LinearWeight w;
  HostWeight() = default;
  HostWeight(const HostWeight&) = delete;
  HostWeight& operator=(const HostWeight&) = delete;
};

// FP8 128x128 block-scaled [total_rows, cols] tensor; `w` is rows [row_offset, row_offset + rows).
inline void make_fp8(HostWeight& h, std::mt19937_64& rng, int rows, int cols, int row_offset = 0,
                     int total_rows = 0) {
  if (total_rows == 0) total_rows = row_offset + rows;
  const std::vector<float> src = random_floats(rng, std::size_t(total_rows) * cols, 0.05f);
  const int scale_rows = (total_rows + 127) / 128, scale_cols = (cols + 127) / 128;
  h.data.resize(std::size_t(total_rows) * cols);
  std::vector<float> scales(std::size_t(scale_rows) * scale_cols);
  quant::quantize_fp8_block(src.data(), total_rows, cols, 128, 128, h.data.data(), scales.data());
  h.scales.resize(scales.size() * 4);
  std::memcpy(h.scales.data(), scales.data(), h.scales.size());
  h.w = model::LinearWeight{};
  h.w.name = "test.fp8";
  h.w.format = model::WeightFormat::kFp8Block;
  h.w.rows = rows;
  h.w.cols = cols;
  h.w.row_offset = row_offset;
  h.w.data = h.data.data();
  h.w.row_stride_bytes = cols;
  h.w.scales = h.scales.data();
  h.w.scale_dtype = io::DType::kF32;
  h.w.scale_cols = scale_cols;
}

inline void make_mxfp4(HostWeight& h, std::mt19937_64& rng, int rows, int cols,
                       float scale = 0.05f) {
  const std::vector<float> src = random_floats(rng, std::size_t(rows) * cols, scale);
  h.data.resize(std::size_t(rows) * cols / 2);
  h.scales.resize(std::size_t(rows) * cols / 32);
  quant::quantize_mxfp4(src.data(), rows, cols, h.data.data(), h.scales.data());
  h.w = model::LinearWeight{};
  h.w.name = "test.mxfp4";
  h.w.format = model::WeightFormat::kMxfp4;
  h.w.rows = rows;
  h.w.cols = cols;
  h.w.data = h.data.data();
  h.w.row_stride_bytes = cols / 2;
  h.w.scales = h.scales.data();
  h.w.scale_dtype = io::DType::kF8_E8M0;
  h.w.scale_cols = cols / 32;
  h.w.block_rows = 1;
  h.w.block_cols = 32;
}

inline void make_bf16(HostWeight& h, std::mt19937_64& rng, int rows, int cols,
                      float scale = 0.05f) {
  const std::vector<float> src = random_floats(rng, std::size_t(rows) * cols, scale);
  h.data.resize(src.size() * 2);
  for (std::size_t i = 0; i < src.size(); ++i) {
    const std::uint16_t b = quant::float_to_bf16(src[i]);
    std::memcpy(h.data.data() + 2 * i, &b, 2);
  }
  h.w = model::LinearWeight{};
  h.w.name = "test.bf16";
  h.w.format = model::WeightFormat::kBF16;
  h.w.rows = rows;
  h.w.cols = cols;
  h.w.data = h.data.data();
  h.w.row_stride_bytes = 2 * std::int64_t(cols);
}

inline void make_f32(HostWeight& h, std::mt19937_64& rng, int rows, int cols, float scale = 0.05f) {
  const std::vector<float> src = random_floats(rng, std::size_t(rows) * cols, scale);
  h.data.resize(src.size() * 4);
  std::memcpy(h.data.data(), src.data(), h.data.size());
  h.w = model::LinearWeight{};
  h.w.name = "test.f32";
  h.w.format = model::WeightFormat::kF32;
  h.w.rows = rows;
  h.w.cols = cols;
  h.w.data = h.data.data();
  h.w.row_stride_bytes = 4 * std::int64_t(cols);
}

// Float64 y = W x and the matching error scale sum_c |W_rc x_c| per output, from the CPU's
// exact row decoder.
struct Reference {
  std::vector<double> y;
  std::vector<double> magnitude;
};
inline Reference linear_reference(const model::LinearWeight& w, const float* x, int n_tokens) {
  Reference ref{std::vector<double>(std::size_t(n_tokens) * w.rows),
                std::vector<double>(std::size_t(n_tokens) * w.rows)};
  std::vector<float> row(w.cols);
  for (std::int64_t r = 0; r < w.rows; ++r) {
    cpu::decode_row(w, r, row.data());
    for (int t = 0; t < n_tokens; ++t) {
      double s = 0, m = 0;
      for (std::int64_t c = 0; c < w.cols; ++c) {
        const double p = double(row[c]) * x[t * w.cols + c];
        s += p;
        m += std::fabs(p);
      }
      ref.y[t * w.rows + r] = s;
      ref.magnitude[t * w.rows + r] = m;
    }
  }
  return ref;
}

// A device buffer of n floats filled with NaN (so unwritten outputs show).
inline cuda::DeviceBuffer poisoned_floats(std::size_t n) {
  return cuda::to_device(std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()));
}

// Largest |a - b| over max(|b|) (NaN anywhere gives +inf).
inline double max_relative_to_peak(const std::vector<float>& a, const std::vector<float>& b) {
  double peak = 0, diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i]))
      return std::numeric_limits<double>::infinity();
    peak = std::max(peak, std::fabs(double(b[i])));
    diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
  }
  return peak > 0 ? diff / peak : diff;
}

}  // namespace mimo::gpu_test
