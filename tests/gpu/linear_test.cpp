// GPU linear kernels (FP8 block-scaled, MXFP4, BF16, F32 weights; 1..40 tokens) against the
// float64 product of the CPU-decoded weights and against cpu::linear.
// Tolerance: |y - y64| <= 2e-5 * sum_c |W_rc x_c| per element (float32 accumulation of a few
// thousand terms in a different order than the reference).
#include "cpu/linear.hpp"

#include <cstring>
#include <string>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_weights.hpp"
#include "gpu_test_support.hpp"
#include "mimo/error.hpp"
#include "quant/codecs.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

using gpu_test::HostWeight;

// token_scale: optional factor per token (magnitudes far from 1 exercise the tensor-core path's
// per-token activation scaling).
template <class Matrix>
void check_linear(const HostWeight& h, const Matrix& m, std::mt19937_64& rng, int n_tokens,
                  const std::vector<float>& token_scale = {}) {
  const model::LinearWeight& w = h.w;
  std::vector<float> x = gpu_test::random_floats(rng, std::size_t(n_tokens) * w.cols);
  for (std::size_t t = 0; t < token_scale.size(); ++t) {
    for (int c = 0; c < w.cols; ++c) x[t * w.cols + c] *= token_scale[t];
  }
  const cuda::DeviceBuffer dx = cuda::to_device(x);
  const std::size_t out_count = std::size_t(n_tokens) * w.rows;
  cuda::DeviceBuffer dy = gpu_test::poisoned_floats(out_count);
  cuda::linear(m, dx.as<float>(), n_tokens, dy.as<float>());
  cuda::synchronize();
  const std::vector<float> y = cuda::to_host<float>(dy, out_count);

  const gpu_test::Reference ref = gpu_test::linear_reference(w, x.data(), n_tokens);
  cpu::ThreadPool pool(2);
  std::vector<float> y_cpu(out_count);
  cpu::linear(pool, w, x.data(), n_tokens, y_cpu.data());

  int bad = 0;
  double worst = 0;
  for (std::size_t i = 0; i < out_count; ++i) {
    const double tol = 2e-5 * ref.magnitude[i] + 1e-30;
    const double err = std::fabs(double(y[i]) - ref.y[i]);
    if (!(err <= tol)) ++bad;  // NaN counts as bad
    worst = std::max(worst, err / tol);
    // The CPU reference obeys the same bound: both are float32 sums of the same products.
    CHECK(std::fabs(double(y_cpu[i]) - ref.y[i]) <= tol);
  }
  INFO(w.name << " [" << w.rows << ", " << w.cols << "] x " << n_tokens
              << " tokens: worst error / tolerance " << worst);
  CHECK(bad == 0);
}

TEST_CASE("FP8 block-scaled linear matches the float64 reference for 1..40 tokens", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  struct Shape {
    int rows, cols, tokens;
  };
  // 208 columns: a partial 64-column step; 8200 rows: the 32-row blocks with a ragged end.
  for (const Shape s :
       {Shape{256, 512, 1}, Shape{384, 1024, 3}, Shape{200, 4096, 8}, Shape{136, 2048, 16},
        Shape{72, 256, 37}, Shape{1000, 1536, 1}, Shape{96, 208, 5}, Shape{8200, 256, 9}}) {
    HostWeight h;
    gpu_test::make_fp8(h, rng, s.rows, s.cols);
    cuda::DeviceArena arena;
    check_linear(h, cuda::upload_fp8(h.w, arena), rng, s.tokens);
  }
}

TEST_CASE("FP8 linear keeps float32 accuracy for tokens of very different magnitudes", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  HostWeight h;
  gpu_test::make_fp8(h, rng, 300, 1024);
  cuda::DeviceArena arena;
  check_linear(h, cuda::upload_fp8(h.w, arena), rng, 6, {1e-30f, 3e-6f, 1.0f, 7e4f, 2e9f, 1e30f});
}

using gpu_test::SplitBuffers;

TEST_CASE("Split activations hold every value to 22 bits of the row's peak", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const int rows = 5, cols = 1000;
  std::vector<float> x = gpu_test::random_floats(rng, std::size_t(rows) * cols);
  const float row_scale[rows] = {1e-30f, 1e-3f, 1.0f, 6e4f, 1e30f};
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) x[std::size_t(r) * cols + c] *= row_scale[r];
  const cuda::DeviceBuffer dx = cuda::to_device(x);
  SplitBuffers split(rows, cols);
  cuda::split_activations(dx.as<float>(), rows, cols, split.view);
  cuda::synchronize();
  const auto hi = cuda::to_host<std::uint16_t>(split.hi, std::size_t(rows) * cols);
  const auto lo = cuda::to_host<std::uint16_t>(split.lo, std::size_t(rows) * cols);
  const auto inv = cuda::to_host<float>(split.inv, rows);
  for (int r = 0; r < rows; ++r) {
    double peak = 0, worst = 0;
    for (int c = 0; c < cols; ++c) peak = std::max(peak, std::fabs(double(x[r * cols + c])));
    for (int c = 0; c < cols; ++c) {
      const std::size_t i = std::size_t(r) * cols + c;
      const double back = (double(quant::f16_value(hi[i])) + quant::f16_value(lo[i])) * inv[r];
      worst = std::max(worst, std::fabs(back - x[i]) / peak);
    }
    INFO("row " << r << " (scale " << row_scale[r] << "): worst error / peak " << worst);
    CHECK(worst <= 0x1p-22);
  }
}

TEST_CASE("FP8 linear from split activations: accurate, batch-invariant, rmsnorm writes them",
          "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (const int rows : {384, 9000}) {
    const int cols = 4096, n = 8;
    HostWeight h;
    gpu_test::make_fp8(h, rng, rows, cols);
    cuda::DeviceArena arena;
    const cuda::Fp8Matrix m = cuda::upload_fp8(h.w, arena);
    REQUIRE(cuda::fp8_on_tensor_cores(m));
    // Normed rows: rmsnorm writes the float32 output and its split.
    std::vector<float> x = gpu_test::random_floats(rng, std::size_t(n) * cols, 3.0f);
    const std::vector<float> norm_w = gpu_test::random_floats(rng, cols);
    cuda::DeviceBuffer dx = cuda::to_device(x);
    const cuda::DeviceBuffer dw = cuda::to_device(norm_w);
    cuda::DeviceBuffer dh = gpu_test::poisoned_floats(std::size_t(n) * cols);
    SplitBuffers from_norm(n, cols), from_split(n, cols);
    cuda::rmsnorm(dx.as<float>(), nullptr, dw.as<float>(), n, cols, 1e-5f, dh.as<float>(),
                  from_norm.view);
    cuda::split_activations(dh.as<float>(), n, cols, from_split.view);
    cuda::DeviceBuffer batch = gpu_test::poisoned_floats(std::size_t(n) * rows);
    cuda::linear(m, from_norm.view, n, batch.as<float>());
    cuda::synchronize();
    const std::vector<float> h_rows = cuda::to_host<float>(dh, std::size_t(n) * cols);
    const std::vector<float> y = cuda::to_host<float>(batch, std::size_t(n) * rows);
    CHECK(cuda::to_host<std::uint16_t>(from_norm.hi, std::size_t(n) * cols) ==
          cuda::to_host<std::uint16_t>(from_split.hi, std::size_t(n) * cols));
    CHECK(cuda::to_host<std::uint16_t>(from_norm.lo, std::size_t(n) * cols) ==
          cuda::to_host<std::uint16_t>(from_split.lo, std::size_t(n) * cols));
    const gpu_test::Reference ref = gpu_test::linear_reference(h.w, h_rows.data(), n);
    int bad = 0;
    for (std::size_t i = 0; i < y.size(); ++i)
      bad += !(std::fabs(double(y[i]) - ref.y[i]) <= 2e-5 * ref.magnitude[i] + 1e-30);
    INFO(rows << " rows");
    CHECK(bad == 0);
    // Token 5 alone (its split row handed over by pointer) gives the same bits.
    cuda::SplitActivations one = from_norm.view;
    one.hi += 5 * cols;
    one.lo += 5 * cols;
    one.inv_scale += 5;
    cuda::DeviceBuffer alone = gpu_test::poisoned_floats(rows);
    cuda::linear(m, one, 1, alone.as<float>());
    cuda::synchronize();
    const std::vector<float> ya = cuda::to_host<float>(alone, rows);
    int differ = 0;
    for (int r = 0; r < rows; ++r) differ += std::memcmp(&ya[r], &y[5 * rows + r], 4) != 0;
    CHECK(differ == 0);
  }
}

TEST_CASE("FP8 batch (q, k, v in one launch) matches the float64 reference, token alone == in 8",
          "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  // Rows of the benchmark's q / k / v (scaled down) and an uneven tail; totals on both sides of
  // the 32-row tile switch.
  for (const std::vector<int>& shapes : {std::vector<int>{8192, 768, 512}, {384, 136, 48}}) {
    const int cols = 1024, n = 8;
    const int count = static_cast<int>(shapes.size());
    std::vector<HostWeight> hosts(count);
    cuda::DeviceArena arena;
    cuda::Fp8Batch batch;
    std::vector<cuda::DeviceBuffer> outs, alone;
    for (int i = 0; i < count; ++i) {
      gpu_test::make_fp8(hosts[i], rng, shapes[i], cols);
      batch.w[i] = cuda::upload_fp8(hosts[i].w, arena);
      outs.push_back(gpu_test::poisoned_floats(std::size_t(n) * shapes[i]));
      alone.push_back(gpu_test::poisoned_floats(shapes[i]));
      batch.y[i] = outs.back().as<float>();
    }
    batch.count = count;
    std::vector<float> x = gpu_test::random_floats(rng, std::size_t(n) * cols, 2.0f);
    const cuda::DeviceBuffer dx = cuda::to_device(x);
    SplitBuffers split(n, cols);
    cuda::split_activations(dx.as<float>(), n, cols, split.view);
    cuda::linear(batch, split.view, n, nullptr);
    // Token 3 alone through the same batch.
    cuda::Fp8Batch single = batch;
    for (int i = 0; i < count; ++i) single.y[i] = alone[i].as<float>();
    cuda::SplitActivations one = split.view;
    one.hi += 3 * cols;
    one.lo += 3 * cols;
    one.inv_scale += 3;
    cuda::linear(single, one, 1, nullptr);
    cuda::synchronize();
    for (int i = 0; i < count; ++i) {
      const std::vector<float> y = cuda::to_host<float>(outs[i], std::size_t(n) * shapes[i]);
      const std::vector<float> ya = cuda::to_host<float>(alone[i], shapes[i]);
      const gpu_test::Reference ref = gpu_test::linear_reference(hosts[i].w, x.data(), n);
      int bad = 0, differ = 0;
      for (std::size_t j = 0; j < y.size(); ++j)
        bad += !(std::fabs(double(y[j]) - ref.y[j]) <= 2e-5 * ref.magnitude[j] + 1e-30);
      for (int r = 0; r < shapes[i]; ++r)
        differ += std::memcmp(&ya[r], &y[3 * shapes[i] + r], 4) != 0;
      INFO("matrix " << i << " of " << count << ", " << shapes[i] << " rows");
      CHECK(bad == 0);
      CHECK(differ == 0);
    }
  }
}

TEST_CASE("FP8 batch rejects mismatched columns and a null output", "[gpu]") {
  std::mt19937_64 rng(7);
  HostWeight a, b;
  gpu_test::make_fp8(a, rng, 128, 1024);
  gpu_test::make_fp8(b, rng, 128, 512);
  cuda::DeviceArena arena;
  SplitBuffers split(1, 1024);
  cuda::DeviceBuffer y = gpu_test::poisoned_floats(128);
  cuda::Fp8Batch batch;
  batch.w[0] = cuda::upload_fp8(a.w, arena);
  batch.w[1] = cuda::upload_fp8(b.w, arena);
  batch.y[0] = y.as<float>();
  batch.y[1] = y.as<float>();
  batch.count = 2;
  CHECK_THROWS_AS(cuda::linear(batch, split.view, 1, nullptr), Error);
  batch.w[1] = batch.w[0];
  batch.y[1] = nullptr;
  CHECK_THROWS_AS(cuda::linear(batch, split.view, 1, nullptr), Error);
}

// Runs n_tokens tokens through m, then token `token` alone: the same bits (a verify step's rows
// equal the decode step's: speculative decoding stays lossless).
template <class Matrix>
void check_token_alone_equals_batch(const Matrix& m, std::mt19937_64& rng, int n_tokens,
                                    int token) {
  const std::vector<float> x = gpu_test::random_floats(rng, std::size_t(n_tokens) * m.cols);
  const cuda::DeviceBuffer dx = cuda::to_device(x);
  cuda::DeviceBuffer batch = gpu_test::poisoned_floats(std::size_t(n_tokens) * m.rows);
  cuda::DeviceBuffer alone = gpu_test::poisoned_floats(m.rows);
  cuda::linear(m, dx.as<float>(), n_tokens, batch.as<float>());
  cuda::linear(m, dx.as<float>() + std::size_t(token) * m.cols, 1, alone.as<float>());
  cuda::synchronize();
  const std::vector<float> yb = cuda::to_host<float>(batch, std::size_t(n_tokens) * m.rows);
  const std::vector<float> ya = cuda::to_host<float>(alone, m.rows);
  int differ = 0;
  for (int r = 0; r < m.rows; ++r)
    differ += std::memcmp(&ya[r], &yb[std::size_t(token) * m.rows + r], 4) != 0;
  INFO(m.rows << " rows, token " << token << " of " << n_tokens);
  CHECK(differ == 0);
}

TEST_CASE("FP8 linear gives a token the same bits alone as in a batch of 8", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (const int rows : {384, 9000}) {
    HostWeight h;
    gpu_test::make_fp8(h, rng, rows, 4096);
    cuda::DeviceArena arena;
    check_token_alone_equals_batch(cuda::upload_fp8(h.w, arena), rng, 8, 5);
  }
}

TEST_CASE("BF16 and F32 linear give a token the same bits alone as in a batch", "[gpu]") {
  // BF16 on tensor cores: tokens 8 at a time, rows not a multiple of the 16-row tile; few
  // tiles (a block a tile) and many (blocks streaming several tiles, 9 column steps over 8
  // warps). F32 with few rows: a block a token (the router).
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (const int tokens : {2, 8, 16, 19}) {
    cuda::DeviceArena arena;
    for (const auto [rows, cols] : {std::pair{1001, 1024}, std::pair{4500, 576}}) {
      HostWeight bf16;
      gpu_test::make_bf16(bf16, rng, rows, cols);
      check_token_alone_equals_batch(cuda::upload_bf16(bf16.w, arena), rng, tokens, tokens - 1);
    }
    HostWeight f32;
    gpu_test::make_f32(f32, rng, 64, 4096);
    check_token_alone_equals_batch(cuda::upload_f32(f32.w, arena), rng, tokens, tokens / 2);
  }
}

TEST_CASE("FP8 linear on a row slice (fused qkv) reads the right scale rows", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int offset : {0, 100, 128, 300}) {
    HostWeight h;
    gpu_test::make_fp8(h, rng, 200, 512, offset, offset + 200 + 57);
    cuda::DeviceArena arena;
    const cuda::Fp8Matrix m = cuda::upload_fp8(h.w, arena);
    CHECK(m.scale_row_offset == offset % 128);
    check_linear(h, m, rng, 2);
  }
}

TEST_CASE("MXFP4 linear matches the float64 reference", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int tokens : {1, 2, 7, 16, 19}) {
    HostWeight h;
    gpu_test::make_mxfp4(h, rng, 264, tokens % 2 ? 2048 : 4096);
    cuda::DeviceArena arena;
    check_linear(h, cuda::upload_mxfp4(h.w, arena), rng, tokens);
  }
}

TEST_CASE("BF16 and F32 linear match the float64 reference", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int tokens : {1, 4, 9, 16, 19}) {
    HostWeight bf16;
    gpu_test::make_bf16(bf16, rng, 777, 1024);  // tensor cores (columns a multiple of 64)
    cuda::DeviceArena arena;
    check_linear(bf16, cuda::upload_bf16(bf16.w, arena), rng, tokens);
    HostWeight bf16_narrow;
    gpu_test::make_bf16(bf16_narrow, rng, 50, 192);  // tensor cores, 3 column steps: 3 warps
    check_linear(bf16_narrow, cuda::upload_bf16(bf16_narrow.w, arena), rng, tokens);
    HostWeight bf16_odd;
    gpu_test::make_bf16(bf16_odd, rng, 300, 520);  // a warp a row
    check_linear(bf16_odd, cuda::upload_bf16(bf16_odd.w, arena), rng, tokens);
    HostWeight f32;
    gpu_test::make_f32(f32, rng, 67, 512);
    check_linear(f32, cuda::upload_f32(f32.w, arena), rng, tokens);
  }
}

TEST_CASE("BF16 linear on tensor cores keeps float32 accuracy for tokens of any magnitude",
          "[gpu]") {
  // The activations' three BF16 pieces carry float32's 24 bits at float32's exponent range.
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  HostWeight h;
  gpu_test::make_bf16(h, rng, 4100, 4096);  // the lm_head's columns; rows past a 16-row tile
  cuda::DeviceArena arena;
  check_linear(h, cuda::upload_bf16(h.w, arena), rng, 5, {1e-20f, 3e-5f, 1.0f, 7e4f, 1e20f});
  HostWeight streamed;  // enough tiles that blocks stream several
  gpu_test::make_bf16(streamed, rng, 4500, 576);
  check_linear(streamed, cuda::upload_bf16(streamed.w, arena), rng, 9, {});
}

TEST_CASE("Uploading a shape the tiles cannot read throws kUnsupported", "[gpu]") {
  std::mt19937_64 rng(gpu_test::fresh_seed());
  HostWeight h;
  gpu_test::make_bf16(h, rng, 4, 8);
  h.w.cols = 6;  // not a multiple of the 8-value chunk
  cuda::DeviceArena arena;
  bool threw = false;
  try {
    cuda::upload_bf16(h.w, arena);
  } catch (const Error& e) {
    threw = e.code() == ErrorCode::kUnsupported;
  }
  CHECK(threw);
}

}  // namespace
}  // namespace mimo
