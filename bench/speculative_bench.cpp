// Plain vs DFlash greedy generation on the GPU, timed by the session statistics.
#include "speculative_bench.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"

namespace mimo::bench {

namespace {

struct Run {
  std::vector<std::int32_t> tokens;
  SessionStats stats;
};

Run generate(const Model& model, const std::shared_ptr<Speculator>& speculator, int tokens) {
  auto session = model.new_session();
  Sampler sampler(SamplerConfig{});
  GenerateOptions options;
  options.max_tokens = tokens;
  options.ignore_eos = true;
  options.speculator = speculator;
  // A fixed prompt of in-vocabulary ids: acceptance depends on the text, so the same prompt is
  // used for both modes.
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 32; ++i) prompt.push_back((i * 131 + 17) % model.summary().vocab_size);
  Run run;
  run.tokens = session->generate(prompt, sampler, options).tokens;
  run.stats = session->stats();
  return run;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int run_speculative_bench(const std::string& model_dir, const std::string& drafter_dir, int tokens,
                          int repeats) {
  ModelOptions options;
  options.device = Device::kCuda;
  options.max_context = 4096;
  auto model = Model::load(model_dir, options);
  std::vector<double> plain_rate, spec_rate;
  Run plain, spec;
  for (int r = 0; r < repeats + 1; ++r) {  // the first round warms up (graphs, caches)
    plain = generate(*model, nullptr, tokens);
    auto drafter = make_dflash_speculator(*model, drafter_dir);
    spec = generate(*model, drafter, tokens);
    if (r == 0) continue;
    plain_rate.push_back(plain.stats.decode_tokens_per_second());
    spec_rate.push_back(spec.stats.decode_tokens_per_second());
  }
  const SpeculationStats& s = spec.stats.speculation;
  std::printf("speculative (%s on %s, greedy, %d tokens, median of %d):\n", drafter_dir.c_str(),
              model->summary().device.c_str(), tokens, repeats);
  std::printf("  plain decode      %10.1f tok/s\n", median(plain_rate));
  std::printf("  DFlash decode     %10.1f tok/s (%.2fx)\n", median(spec_rate),
              median(spec_rate) / median(plain_rate));
  std::printf("  acceptance        %10.2f tokens per verify step (bonus included), %lld steps\n",
              s.mean_acceptance_length(), static_cast<long long>(s.steps));
  std::printf("  draft / verify    %10.3f / %.3f s per run\n", s.draft_seconds, s.verify_seconds);
  std::printf("  histogram        ");
  for (std::size_t n = 1; n < s.acceptance_histogram.size(); ++n) {
    std::printf(" %zu:%lld", n, static_cast<long long>(s.acceptance_histogram[n]));
  }
  std::printf("\n  lossless          %s\n", plain.tokens == spec.tokens ? "yes" : "NO");
  return plain.tokens == spec.tokens ? 0 : 1;
}

}  // namespace mimo::bench
