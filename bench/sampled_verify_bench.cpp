// The host side of sampled speculative decoding on the demo model's vocabulary (8192): drawing
// 7 drafts from a drafter's rows (lib/api/draft_sampling.hpp) and deciding one verify row against
// its proposal (lib/api/speculative_verify.hpp), at temperature 0.7 with and without top-p. What
// a GPU step pays when these run on the host (docs/speculative.md, "Measured").
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "api/draft_sampling.hpp"
#include "api/speculative_verify.hpp"
#include "mimo/sampler.hpp"

namespace {

constexpr std::int32_t kVocab = 8192;

std::vector<float> random_logits(int rows) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(std::size_t(rows) * kVocab);
  for (float& v : logits) v = normal(rng);
  return logits;
}

mimo::SamplerConfig config_of(const benchmark::State& state) {
  mimo::SamplerConfig config;
  config.temperature = 0.7f;
  config.top_p = state.range(0) != 0 ? 0.95f : 1.0f;
  config.seed = 5;
  return config;
}

void BM_DrawDrafts(benchmark::State& state) {
  const std::vector<float> logits = random_logits(7);
  mimo::Sampler sampler(config_of(state));
  for (auto _ : state) {
    mimo::DrawnDrafts drawn = mimo::draw_drafts(sampler, logits, 7, kVocab);
    benchmark::DoNotOptimize(drawn.tokens.data());
  }
  state.counters["rows"] = 7;
}

void BM_VerifyAgainstProposal(benchmark::State& state) {
  const std::vector<float> target = random_logits(1);
  mimo::Sampler sampler(config_of(state));
  const mimo::DrawnDrafts drawn = mimo::draw_drafts(sampler, random_logits(1), 1, kVocab);
  std::vector<float> p, residual;
  for (auto _ : state) {
    mimo::SampleResult r = mimo::verify_against_proposal(
        sampler, target.data(), kVocab, drawn.tokens[0], drawn.q.data(), p, residual);
    benchmark::DoNotOptimize(r.token);
  }
}

}  // namespace

BENCHMARK(BM_DrawDrafts)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_VerifyAgainstProposal)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
