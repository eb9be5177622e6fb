// Plain vs DFlash generation on the GPU, timed by the session statistics: greedy (DFlash must
// give the plain tokens), then sampled at temperature 0.7 with the tokens drawn on the device
// and on the host (each mode must give the same tokens both ways, for a seed).
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

Run generate(const Model& model, const std::shared_ptr<Speculator>& speculator, int tokens,
             const SamplerConfig& config = {},
             GenerateOptions::DraftLength draft_length = GenerateOptions::DraftLength::kAdaptive) {
  auto session = model.new_session();
  Sampler sampler(config);
  GenerateOptions options;
  options.max_tokens = tokens;
  options.ignore_eos = true;
  options.speculator = speculator;
  options.draft_length = draft_length;
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
  std::vector<double> plain_rate, spec_rate, most_rate;
  Run plain, spec, most;
  for (int r = 0; r < repeats + 1; ++r) {  // the first round warms up (graphs, caches)
    plain = generate(*model, nullptr, tokens);
    // A new speculator each run: its draft-length chooser starts from nothing every time.
    spec = generate(*model, make_dflash_speculator(*model, drafter_dir), tokens);
    most = generate(*model, make_dflash_speculator(*model, drafter_dir), tokens, {},
                    GenerateOptions::DraftLength::kMax);
    if (r == 0) continue;
    plain_rate.push_back(plain.stats.decode_tokens_per_second());
    spec_rate.push_back(spec.stats.decode_tokens_per_second());
    most_rate.push_back(most.stats.decode_tokens_per_second());
  }
  const SpeculationStats& s = spec.stats.speculation;
  std::printf("speculative (%s on %s, greedy, %d tokens, median of %d):\n", drafter_dir.c_str(),
              model->summary().device.c_str(), tokens, repeats);
  std::printf("  plain decode      %10.1f tok/s\n", median(plain_rate));
  std::printf("  DFlash decode     %10.1f tok/s (%.2fx)\n", median(spec_rate),
              median(spec_rate) / median(plain_rate));
  std::printf("  DFlash, most drafts %8.1f tok/s (%.2fx), acceptance %.2f, %lld steps\n",
              median(most_rate), median(most_rate) / median(plain_rate),
              most.stats.speculation.mean_acceptance_length(),
              static_cast<long long>(most.stats.speculation.steps));
  std::printf("  acceptance        %10.2f tokens per verify step (bonus included), %lld steps\n",
              s.mean_acceptance_length(), static_cast<long long>(s.steps));
  std::printf("  drafts a step    ");
  for (std::size_t n = 0; n < s.draft_histogram.size(); ++n) {
    std::printf(" %zu:%lld", n, static_cast<long long>(s.draft_histogram[n]));
  }
  std::printf("\n");
  std::printf("  draft / verify    %10.3f / %.3f s per run\n", s.draft_seconds, s.verify_seconds);
  std::printf("  histogram        ");
  for (std::size_t n = 1; n < s.acceptance_histogram.size(); ++n) {
    std::printf(" %zu:%lld", n, static_cast<long long>(s.acceptance_histogram[n]));
  }
  const bool lossless = plain.tokens == spec.tokens && plain.tokens == most.tokens;
  std::printf("\n  lossless          %s\n", lossless ? "yes" : "NO");

  // Sampled: plain and DFlash, each with the tokens drawn on the device and on the host.
  options.sample_on_device = false;
  auto host_model = Model::load(model_dir, options);
  SamplerConfig sampled;
  sampled.temperature = 0.7f;
  sampled.seed = 1;
  const Model* models[2] = {model.get(), host_model.get()};
  // Modes: plain, DFlash drawing drafts from the drafter (min(1, p/q)), DFlash proposing its
  // argmax (one-hot proposals).
  std::vector<double> rates[3][2];  // [mode][host]
  Run last[3][2];
  for (int r = 0; r < repeats + 1; ++r) {
    for (int mode = 0; mode < 3; ++mode) {
      for (int host = 0; host < 2; ++host) {
        DFlashOptions dflash;
        dflash.sample_drafts = mode == 1;
        auto drafter =
            mode > 0 ? make_dflash_speculator(*models[host], drafter_dir, dflash) : nullptr;
        last[mode][host] = generate(*models[host], drafter, tokens, sampled);
        if (r > 0) rates[mode][host].push_back(last[mode][host].stats.decode_tokens_per_second());
      }
    }
  }
  const bool same_plain = last[0][0].tokens == last[0][1].tokens;
  const bool same_dflash =
      last[1][0].tokens == last[1][1].tokens && last[2][0].tokens == last[2][1].tokens;
  std::printf("sampled (temperature 0.7, seed 1, %d tokens, median of %d), tok/s:\n", tokens,
              repeats);
  std::printf(
      "  plain decode      %10.1f sampled on the device, %.1f on the host (same tokens: %s)\n",
      median(rates[0][0]), median(rates[0][1]), same_plain ? "yes" : "NO");
  std::printf(
      "  DFlash decode     %10.1f sampled on the device (%.2fx), %.1f on the host (same tokens: "
      "%s)\n",
      median(rates[1][0]), median(rates[1][0]) / median(rates[0][0]), median(rates[1][1]),
      same_dflash ? "yes" : "NO");
  const SpeculationStats& q = last[1][0].stats.speculation;
  std::printf(
      "  acceptance        %10.2f tokens per verify step (bonus included), draft / verify "
      "%.3f / %.3f s per run\n",
      q.mean_acceptance_length(), q.draft_seconds, q.verify_seconds);
  const SpeculationStats& onehot = last[2][0].stats.speculation;
  std::printf(
      "  DFlash, argmax drafts %6.1f sampled on the device (%.2fx), %.1f on the host, "
      "acceptance %.2f, draft / verify %.3f / %.3f s per run\n",
      median(rates[2][0]), median(rates[2][0]) / median(rates[0][0]), median(rates[2][1]),
      onehot.mean_acceptance_length(), onehot.draft_seconds, onehot.verify_seconds);
  return lossless && same_plain && same_dflash ? 0 : 1;
}

}  // namespace mimo::bench
