// The prefill GEMM (cuda::prefill_linear, cuda/tiles/prefill_gemm.cuh) against the float64
// product of the CPU-decoded FP8 weights, within the linear tests' tolerance: |y - y64| <=
// 2e-5 * sum_c |W_rc x_c| per element. Inputs are split by cuda::split_activations as the stream
// runner's producers write them; outputs are poisoned with NaN first, so an unwritten element
// fails. Shapes: row counts that are not a multiple of the 128- or 256-row block (and fewer rows
// than one block), 64 to 512 tokens (ragged token tiles), 4096 columns, a ragged column count
// that is a multiple of 128 (18 stages: not a multiple of the 4-stage ring), a partial 64-column
// stage, a row slice of a fused matrix (scale_row_offset); tokens of very different magnitudes;
// and a token's bits alone == in a batch == in a batch whose block shape differs.
#include <cstring>
#include <string>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_weights.hpp"
#include "gpu_test_support.hpp"
#include "mimo/error.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

using gpu_test::HostWeight;

using gpu_test::SplitBuffers;

// Random activations with no zero (a zero would hide a wrong weight column).
std::vector<float> nonzero_floats(std::mt19937_64& rng, std::size_t n, float scale = 1.0f) {
  std::vector<float> v = gpu_test::random_floats(rng, n, scale);
  for (float& x : v) {
    if (x == 0.0f) x = scale * 1e-3f;
  }
  return v;
}

// Elements of y [n, w.rows] outside the tolerance of the float64 product of x [n, w.cols].
int count_bad(const model::LinearWeight& w, const std::vector<float>& x, int n,
              const std::vector<float>& y, double& worst) {
  const gpu_test::Reference ref = gpu_test::linear_reference(w, x.data(), n);
  int bad = 0;
  worst = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double tol = 2e-5 * ref.magnitude[i] + 1e-30;
    const double err = std::fabs(double(y[i]) - ref.y[i]);
    if (!(err <= tol)) ++bad;  // NaN counts as bad
    worst = std::max(worst, err / tol);
  }
  return bad;
}

// x [n, cols] on the device, split.
struct Input {
  std::vector<float> x;
  SplitBuffers split;
  Input(std::vector<float> values, int n, int cols) : x(std::move(values)), split(n, cols) {
    const cuda::DeviceBuffer dx = cuda::to_device(x);
    cuda::split_activations(dx.as<float>(), n, cols, split.view);
    cuda::synchronize();
  }
};

std::vector<float> run(const cuda::Fp8Matrix& m, const cuda::SplitActivations& x, int n) {
  cuda::DeviceBuffer y = gpu_test::poisoned_floats(std::size_t(n) * m.rows);
  cuda::prefill_linear(m, x, n, y.as<float>());
  cuda::synchronize();
  return cuda::to_host<float>(y, std::size_t(n) * m.rows);
}

int differing(const float* a, const float* b, std::size_t count) {
  int differ = 0;
  for (std::size_t i = 0; i < count; ++i) differ += std::memcmp(&a[i], &b[i], 4) != 0;
  return differ;
}

TEST_CASE("Prefill GEMM matches the float64 reference for 64..512 tokens and ragged shapes",
          "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  struct Shape {
    int rows, cols, tokens, row_offset, total_rows;
  };
  for (const Shape s :
       {Shape{300, 4096, 64, 0, 0}, Shape{1000, 4096, 100, 0, 0}, Shape{520, 4096, 256, 0, 0},
        Shape{136, 4096, 512, 0, 0}, Shape{384, 1152, 256, 0, 0}, Shape{96, 208, 70, 0, 0},
        Shape{200, 1024, 64, 100, 428}, Shape{5000, 512, 512, 0, 0}}) {
    HostWeight h;
    gpu_test::make_fp8(h, rng, s.rows, s.cols, s.row_offset, s.total_rows);
    cuda::DeviceArena arena;
    const cuda::Fp8Matrix m = cuda::upload_fp8(h.w, arena);
    REQUIRE(cuda::fp8_on_tensor_cores(m));
    const Input in(nonzero_floats(rng, std::size_t(s.tokens) * s.cols, 2.0f), s.tokens, s.cols);
    const std::vector<float> y = run(m, in.split.view, s.tokens);
    double worst = 0;
    const int bad = count_bad(h.w, in.x, s.tokens, y, worst);
    INFO("[" << s.rows << " at row " << s.row_offset << ", " << s.cols << "] x " << s.tokens
             << " tokens: worst error / tolerance " << worst);
    CHECK(bad == 0);
  }
}

TEST_CASE("Prefill GEMM keeps float32 accuracy for tokens of very different magnitudes", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const int rows = 300, cols = 1024, n = 70;
  HostWeight h;
  gpu_test::make_fp8(h, rng, rows, cols);
  cuda::DeviceArena arena;
  const cuda::Fp8Matrix m = cuda::upload_fp8(h.w, arena);
  std::vector<float> x = nonzero_floats(rng, std::size_t(n) * cols);
  const float token_scale[] = {1e-30f, 3e-6f, 1.0f, 7e4f, 2e9f, 1e30f};
  for (int t = 0; t < n; ++t)
    for (int c = 0; c < cols; ++c) x[std::size_t(t) * cols + c] *= token_scale[t % 6];
  const Input in(std::move(x), n, cols);
  const std::vector<float> y = run(m, in.split.view, n);
  double worst = 0;
  CHECK(count_bad(h.w, in.x, n, y, worst) == 0);
  INFO("worst error / tolerance " << worst);
}

TEST_CASE("Prefill GEMM: a token's bits alone, in a q/k/v batch and under either block shape",
          "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  // A small product (128-row blocks: too few 256-row tiles to fill the GPU) and the same matrix
  // in a batch with a large one (256-row blocks).
  const int cols = 512, n = 300;
  const std::vector<int> shapes = {520, 8192, 136};
  std::vector<HostWeight> hosts(shapes.size());
  cuda::DeviceArena arena;
  cuda::Fp8Batch batch;
  std::vector<cuda::DeviceBuffer> outs;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    gpu_test::make_fp8(hosts[i], rng, shapes[i], cols);
    batch.w[i] = cuda::upload_fp8(hosts[i].w, arena);
    outs.push_back(gpu_test::poisoned_floats(std::size_t(n) * shapes[i]));
    batch.y[i] = outs.back().as<float>();
  }
  batch.count = static_cast<int>(shapes.size());
  const Input in(nonzero_floats(rng, std::size_t(n) * cols, 2.0f), n, cols);
  cuda::prefill_linear(batch, in.split.view, n);
  cuda::synchronize();
  std::vector<std::vector<float>> y;
  for (std::size_t i = 0; i < shapes.size(); ++i)
    y.push_back(cuda::to_host<float>(outs[i], std::size_t(n) * shapes[i]));
  for (std::size_t i = 0; i < shapes.size(); i += 2) {  // the float64 sums of the small ones
    double worst = 0;
    INFO("matrix " << i << ", " << shapes[i] << " rows");
    CHECK(count_bad(hosts[i].w, in.x, n, y[i], worst) == 0);
  }
  const std::vector<float> alone = run(batch.w[0], in.split.view, n);
  CHECK(differing(alone.data(), y[0].data(), alone.size()) == 0);
  for (const int t : {0, 63, 64, 299}) {
    const std::vector<float> one = run(batch.w[2], in.split.row(t), 1);
    INFO("token " << t << " alone");
    CHECK(differing(one.data(), y[2].data() + std::size_t(t) * shapes[2], shapes[2]) == 0);
  }
}

TEST_CASE("Prefill GEMM rejects mismatched columns, a null output and unsupported blocks",
          "[gpu]") {
  std::mt19937_64 rng(7);
  HostWeight a, b;
  gpu_test::make_fp8(a, rng, 128, 1024);
  gpu_test::make_fp8(b, rng, 128, 512);
  cuda::DeviceArena arena;
  SplitBuffers split(64, 1024);
  cuda::DeviceBuffer y = gpu_test::poisoned_floats(64 * 128);
  cuda::Fp8Batch batch;
  batch.w[0] = cuda::upload_fp8(a.w, arena);
  batch.w[1] = cuda::upload_fp8(b.w, arena);
  batch.y[0] = y.as<float>();
  batch.y[1] = y.as<float>();
  batch.count = 2;
  CHECK_THROWS_AS(cuda::prefill_linear(batch, split.view, 64, nullptr), Error);
  batch.w[1] = batch.w[0];
  batch.y[1] = nullptr;
  CHECK_THROWS_AS(cuda::prefill_linear(batch, split.view, 64, nullptr), Error);
  cuda::Fp8Matrix odd = batch.w[0];
  odd.block_cols = 96;  // not whole 64-column stages
  CHECK_THROWS_AS(cuda::prefill_linear(odd, split.view, 64, y.as<float>()), Error);
}

}  // namespace
}  // namespace mimo
