// The CPU linear (lib/cpu/linear.cpp) on one thread: a [2048, 1024] weight in each stored format
// times 1, 2, 4 and 8 tokens. Bytes/s counts the weight bytes read; run with MIMO_CPU_AVX2=0 for
// the scalar / SSE forms (docs/performance.md, "CPU linear").
#include <benchmark/benchmark.h>

#include <vector>

#include "cpu/linear.hpp"
#include "cpu/random_weights.hpp"
#include "cpu/thread_pool.hpp"

namespace {

using mimo::model::WeightFormat;

void BM_CpuLinear(benchmark::State& state) {
  const auto format = static_cast<WeightFormat>(state.range(0));
  const int tokens = static_cast<int>(state.range(1));
  mimo::cpu::testing::Rng rng(3);
  auto w = mimo::cpu::testing::make_linear(format, 2048, 1024, rng);
  const std::vector<float> x = mimo::cpu::testing::random_vector(rng, 1024 * tokens);
  std::vector<float> y(2048 * tokens);
  mimo::cpu::ThreadPool pool(1);
  for (auto _ : state) {
    mimo::cpu::linear(pool, w->weight, x.data(), tokens, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * w->weight.stored_bytes());
  state.counters["tokens"] = tokens;
}

void formats(benchmark::internal::Benchmark* b) {
  for (WeightFormat f : {WeightFormat::kBF16, WeightFormat::kFp8Block, WeightFormat::kMxfp4}) {
    for (int tokens : {1, 2, 4, 8}) b->Args({static_cast<long>(f), tokens});
  }
}

}  // namespace

BENCHMARK(BM_CpuLinear)->Apply(formats);
