// RMSNorm (with and without the fused residual add), embedding gather and greedy argmax on the
// GPU against cpu::rmsnorm, cpu::embed and a host scan.
// Tolerances: RMSNorm 2e-6 relative to the output peak (one float32 sum of squares in another
// order); embedding and argmax exact.
#include <algorithm>

#include "cpu/embedding.hpp"
#include "cpu/rmsnorm.hpp"
#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_weights.hpp"
#include "gpu_test_support.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

TEST_CASE("RMSNorm and fused residual-add RMSNorm match cpu::rmsnorm", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int dim : {64, 1000, 4096, 6144}) {
    const int n = 3;
    const std::vector<float> x = gpu_test::random_floats(rng, std::size_t(n) * dim, 3.0f);
    const std::vector<float> delta = gpu_test::random_floats(rng, x.size());
    const std::vector<float> weight = gpu_test::random_floats(rng, dim);
    const double eps = 1e-5;
    cuda::DeviceBuffer dx = cuda::to_device(x);
    const cuda::DeviceBuffer ddelta = cuda::to_device(delta);
    const cuda::DeviceBuffer dweight = cuda::to_device(weight);
    cuda::DeviceBuffer dout = gpu_test::poisoned_floats(x.size());

    cuda::rmsnorm(dx.as<float>(), nullptr, dweight.as<float>(), n, dim, float(eps),
                  dout.as<float>());
    cuda::synchronize();
    std::vector<float> want(x.size());
    cpu::rmsnorm(x.data(), weight.data(), n, dim, eps, want.data());
    CHECK(gpu_test::max_relative_to_peak(cuda::to_host<float>(dout, x.size()), want) <= 2e-6);

    cuda::rmsnorm(dx.as<float>(), ddelta.as<float>(), dweight.as<float>(), n, dim, float(eps),
                  dout.as<float>());
    cuda::synchronize();
    std::vector<float> sum(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) sum[i] = x[i] + delta[i];
    cpu::rmsnorm(sum.data(), weight.data(), n, dim, eps, want.data());
    CHECK(cuda::to_host<float>(dx, x.size()) == sum);  // the residual stream, exactly
    CHECK(gpu_test::max_relative_to_peak(cuda::to_host<float>(dout, x.size()), want) <= 2e-6);
  }
}

TEST_CASE("Embedding gather matches cpu::embed exactly, and bad ids give NaN rows", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  gpu_test::HostWeight table;
  gpu_test::make_bf16(table, rng, 1000, 264, 1.0f);
  std::vector<int> tokens = {0, 999, 17, 17, 512, 3};
  cuda::DeviceArena arena;
  const cuda::Bf16Matrix dtable = cuda::upload_bf16(table.w, arena);
  const cuda::DeviceBuffer dtokens = cuda::to_device(tokens);
  cuda::DeviceBuffer dout = gpu_test::poisoned_floats(tokens.size() * 264);
  cuda::embed(dtable, dtokens.as<int>(), int(tokens.size()), dout.as<float>());
  cuda::synchronize();
  std::vector<float> want(tokens.size() * 264);
  cpu::embed(table.w, tokens, want.data());
  CHECK(cuda::to_host<float>(dout, want.size()) == want);

  const std::vector<int> bad = {-1, 1000};
  const cuda::DeviceBuffer dbad = cuda::to_device(bad);
  cuda::embed(dtable, dbad.as<int>(), 2, dout.as<float>());
  cuda::synchronize();
  const std::vector<float> rows = cuda::to_host<float>(dout, 2 * 264);
  CHECK(std::all_of(rows.begin(), rows.end(), [](float v) { return std::isnan(v); }));
}

TEST_CASE("Greedy argmax matches a host scan, ties to the lowest index", "[gpu]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int vocab : {7, 1024, 152576}) {
    const int n = 4;
    std::vector<float> logits = gpu_test::random_floats(rng, std::size_t(n) * vocab, 4.0f);
    // Token 2: a tie between two late entries at the maximum; token 3: a NaN at index 0.
    const float top = 100.0f;
    logits[2 * vocab + vocab - 1] = top;
    logits[2 * vocab + vocab / 2] = top;
    logits[3 * vocab] = std::numeric_limits<float>::quiet_NaN();
    const cuda::DeviceBuffer dlogits = cuda::to_device(logits);
    cuda::DeviceBuffer dout = cuda::to_device(std::vector<int>(n, -5));
    cuda::argmax(dlogits.as<float>(), n, vocab, dout.as<int>());
    cuda::synchronize();
    const std::vector<int> got = cuda::to_host<int>(dout, n);
    for (int t = 0; t < n; ++t) {
      int best = -1;
      for (int j = 0; j < vocab; ++j) {
        const float v = logits[std::size_t(t) * vocab + j];
        if (!std::isnan(v) && (best < 0 || v > logits[std::size_t(t) * vocab + best])) best = j;
      }
      INFO("vocab " << vocab << " token " << t);
      CHECK(got[t] == best);
    }
  }
}

}  // namespace
}  // namespace mimo
