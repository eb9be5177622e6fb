// Per-tensor conversion for the quantizer: decode to float32, encode (MXFP4 / FP8 block / BF16),
// decode the result again and measure the error in float64.
#include "quant/tensor_conversion.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "mimo/error.hpp"
#include "quant/array_convert.hpp"
#include "quant/block_formats.hpp"

namespace mimo::quant {
namespace {

constexpr std::int64_t kParallelThreshold = 1 << 20;  // elements; smaller tensors stay serial

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

std::string scale_name(const std::string& weight_name, const char* suffix) {
  return weight_name + suffix;  // "x.weight" + "_scale" = "x.weight_scale"
}

// Runs fn(first_row, end_row) over `rows` split into bands whose starts are multiples of
// `band_multiple`, on up to `threads` threads.
template <typename Fn>
void for_row_bands(std::int64_t rows, std::int64_t cols, std::int64_t band_multiple, int threads,
                   Fn&& fn) {
  const std::int64_t units = ceil_div(rows, band_multiple);
  std::int64_t workers = std::max<std::int64_t>(1, threads);
  if (rows * cols < kParallelThreshold) workers = 1;
  workers = std::min(workers, units);
  if (workers <= 1) {
    fn(std::int64_t{0}, rows);
    return;
  }
  const std::int64_t units_per_worker = ceil_div(units, workers);
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(workers));
  for (std::int64_t w = 0; w < workers; ++w) {
    const std::int64_t begin = std::min(rows, w * units_per_worker * band_multiple);
    const std::int64_t end = std::min(rows, (w + 1) * units_per_worker * band_multiple);
    pool.emplace_back([&, w, begin, end] {
      try {
        if (begin < end) fn(begin, end);
      } catch (...) {
        errors[static_cast<std::size_t>(w)] = std::current_exception();
      }
    });
  }
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

void measure_error(const std::vector<float>& reference, const std::vector<float>& result,
                   ConvertedTensor& out) {
  double error_sq = 0.0, reference_sq = 0.0, max_abs = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double r = reference[i];
    const double d = static_cast<double>(result[i]) - r;
    error_sq += d * d;
    reference_sq += r * r;
    max_abs = std::max(max_abs, std::fabs(d));
  }
  out.relative_l2_error =
      reference_sq > 0.0 ? std::sqrt(error_sq / reference_sq) : (error_sq > 0.0 ? INFINITY : 0.0);
  out.max_abs_error = max_abs;
}

template <typename T>
std::vector<std::byte> to_bytes(const std::vector<T>& values) {
  std::vector<std::byte> bytes(values.size() * sizeof(T));
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

void check_finite(const io::TensorView& input, const std::vector<float>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("tensor {} ({}): element {} is {}; only finite weights can be "
                              "quantized",
                              input.name, input.file, i, values[i]));
    }
  }
}

}  // namespace

std::uint64_t OutputTensor::nbytes() const {
  std::uint64_t n = io::dtype_size(dtype);
  for (std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

std::vector<float> tensor_to_float(const io::TensorView& input) {
  const auto count = static_cast<std::size_t>(input.numel());
  std::vector<float> values(count);
  switch (input.dtype) {
    case io::DType::kF32:
      if (count != 0) std::memcpy(values.data(), input.data, count * sizeof(float));
      break;
    case io::DType::kBF16:
      bf16_to_float_array(input.as<std::uint16_t>(), values.data(), count);
      break;
    case io::DType::kF16:
      f16_to_float_array(input.as<std::uint16_t>(), values.data(), count);
      break;
    default:
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("tensor {} ({}) has dtype {}, expected F32, BF16 or F16", input.name,
                              input.file, io::dtype_name(input.dtype)));
  }
  return values;
}

std::vector<OutputTensor> output_plan(const io::TensorView& input, TargetFormat format,
                                      FpBlock block) {
  const std::vector<std::int64_t>& shape = input.shape;
  switch (format) {
    case TargetFormat::kKeep:
      return {{input.name, input.dtype, shape, {}}};
    case TargetFormat::kBf16:
      return {{input.name, io::DType::kBF16, shape, {}}};
    case TargetFormat::kMxfp4: {
      const std::int64_t rows = shape.at(0), cols = shape.at(1);
      return {{input.name, io::DType::kU8, {rows, cols / 2}, {}},
              {scale_name(input.name, "_scale"), io::DType::kU8, {rows, cols / 32}, {}}};
    }
    case TargetFormat::kFp8Block: {
      const std::int64_t rows = shape.at(0), cols = shape.at(1);
      return {{input.name, io::DType::kF8_E4M3, shape, {}},
              {scale_name(input.name, "_scale_inv"),
               io::DType::kF32,
               {ceil_div(rows, block.rows), ceil_div(cols, block.cols)},
               {}}};
    }
  }
  return {};
}

ConvertedTensor convert_tensor(const io::TensorView& input, TargetFormat format, FpBlock block,
                               int threads) {
  ConvertedTensor result;
  result.outputs = output_plan(input, format, block);
  if (format == TargetFormat::kKeep) {
    result.outputs[0].bytes.assign(input.data, input.data + input.nbytes);
    return result;
  }
  const std::vector<float> values = tensor_to_float(input);
  std::vector<float> decoded(values.size());
  if (format == TargetFormat::kBf16) {
    std::vector<std::uint16_t> bf16(values.size());
    float_to_bf16_array(values.data(), bf16.data(), values.size());
    bf16_to_float_array(bf16.data(), decoded.data(), values.size());
    result.outputs[0].bytes = to_bytes(bf16);
    measure_error(values, decoded, result);
    return result;
  }
  check_finite(input, values);
  const std::int64_t rows = input.shape.at(0), cols = input.shape.at(1);
  const float* src = values.data();
  float* dst = decoded.data();
  if (format == TargetFormat::kMxfp4) {
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows * cols / 2));
    std::vector<std::uint8_t> scales(static_cast<std::size_t>(rows * cols / 32));
    for_row_bands(rows, cols, 1, threads, [&](std::int64_t r0, std::int64_t r1) {
      std::uint8_t* c = codes.data() + r0 * cols / 2;
      std::uint8_t* s = scales.data() + r0 * cols / 32;
      quantize_mxfp4(src + r0 * cols, r1 - r0, cols, c, s);
      dequantize_mxfp4(c, s, r1 - r0, cols, dst + r0 * cols);
    });
    result.outputs[0].bytes = to_bytes(codes);
    result.outputs[1].bytes = to_bytes(scales);
  } else {
    const std::int64_t scale_cols = ceil_div(cols, block.cols);
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows * cols));
    std::vector<float> scales(static_cast<std::size_t>(ceil_div(rows, block.rows) * scale_cols));
    for_row_bands(rows, cols, block.rows, threads, [&](std::int64_t r0, std::int64_t r1) {
      std::uint8_t* c = codes.data() + r0 * cols;
      float* s = scales.data() + (r0 / block.rows) * scale_cols;
      quantize_fp8_block(src + r0 * cols, r1 - r0, cols, block.rows, block.cols, c, s);
      dequantize_fp8_block(c, s, r1 - r0, cols, block.rows, block.cols, dst + r0 * cols);
    });
    result.outputs[0].bytes = to_bytes(codes);
    result.outputs[1].bytes = to_bytes(scales);
  }
  measure_error(values, decoded, result);
  return result;
}

}  // namespace mimo::quant
