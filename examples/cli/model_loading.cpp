// mimo-cli: model flags, loading with progress, sampling flags, stats line, speed comparison.
#include "cli/model_loading.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "cli/default_paths.hpp"
#include "cli/number_flags.hpp"
#include "mimo/error.hpp"

namespace mimo::cli {

void add_model_flags(CLI::App& app, ModelFlags& flags) {
  flags.model_dir = default_model_dir();
  app.add_option("-m,--model", flags.model_dir,
                 "checkpoint directory ($MIMO_MODEL or the demo model)")
      ->capture_default_str();
  app.add_option("--device", flags.device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  add_number_option(app, "-t,--threads", flags.threads, "CPU threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  add_number_option(app, "-c,--context", flags.context, "maximum context length in tokens");
  app.add_flag("--host-sampling", flags.host_sampling,
               "draw tokens on the host even with the model on a GPU (same tokens; for A/B runs)");
  app.add_flag("--check-activations", flags.check_activations,
               "debug NaN / infinity: check every op's output and name the first layer that "
               "produced one (on the CPU)");
  app.add_option("--engine", flags.engine,
                 "GPU runner: auto (the one measured faster), stream (a kernel per op) or "
                 "persistent (the persistent engine; needs the model on a GPU)")
      ->check(CLI::IsMember({"auto", "stream", "persistent"}))
      ->capture_default_str();
}

std::shared_ptr<const Model> load_model(const ModelFlags& flags) {
  ModelOptions options;
  options.device = flags.device == "cpu"    ? Device::kCpu
                   : flags.device == "cuda" ? Device::kCuda
                                            : Device::kAuto;
  options.num_threads = flags.threads;
  options.max_context = flags.context;
  options.sample_on_device = !flags.host_sampling;
  options.engine = flags.engine == "persistent" ? Engine::kPersistent
                   : flags.engine == "stream"   ? Engine::kStream
                                                : Engine::kAuto;
  if (flags.check_activations) {
    if (flags.device == "cuda") {
      throw Error(ErrorCode::kInvalidArgument,
                  "--check-activations runs on the CPU, not --device cuda");
    }
    options.device = Device::kCpu;
    options.check_activations = true;
  }
  const bool tty = isatty(fileno(stderr));
  if (tty) {
    options.on_progress = [](float fraction) {
      const int width = 30;
      const int filled = static_cast<int>(fraction * width);
      std::fprintf(stderr, "\rloading [%s%s] %3d%%", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), static_cast<int>(fraction * 100));
      if (fraction >= 1.0f) std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    };
  }
  return Model::load(flags.model_dir, options);
}

void add_sampling_flags(CLI::App& app, SamplerConfig& config, int& max_tokens) {
  add_number_option(app, "-n,--max-tokens", max_tokens, "tokens to generate");
  add_number_option(app, "--temp", config.temperature, "temperature (0 = greedy)");
  add_number_option(app, "--top-k", config.top_k, "keep the k most likely tokens (0 = off)");
  add_number_option(app, "--top-p", config.top_p, "nucleus sampling mass (1 = off)");
  add_number_option(app, "--min-p", config.min_p,
                    "drop tokens below min-p times the best (0 = off)");
  add_number_option(app, "--repeat-penalty", config.repetition_penalty,
                    "repetition penalty (1 = off)");
  add_number_option(app, "--presence-penalty", config.presence_penalty, "presence penalty");
  add_number_option(app, "--frequency-penalty", config.frequency_penalty, "frequency penalty");
  add_number_option(app, "--seed", config.seed, "random seed");
}

void print_stats(const SessionStats& stats) {
  std::fprintf(stderr,
               "prefill %lld tok at %.1f tok/s | decode %lld tok at %.1f tok/s | first token "
               "%.3f s\n",
               static_cast<long long>(stats.prefill_tokens), stats.prefill_tokens_per_second(),
               static_cast<long long>(stats.decode_tokens), stats.decode_tokens_per_second(),
               stats.time_to_first_token_seconds);
  const SpeculationStats& spec = stats.speculation;
  if (spec.steps == 0) return;
  std::string histogram;
  for (std::size_t n = 1; n < spec.acceptance_histogram.size(); ++n) {
    histogram +=
        fmt::format("{}{}:{}", histogram.empty() ? "" : " ", n, spec.acceptance_histogram[n]);
  }
  std::string drafts;
  for (std::size_t n = 0; n < spec.draft_histogram.size(); ++n) {
    drafts += fmt::format("{}{}:{}", drafts.empty() ? "" : " ", n, spec.draft_histogram[n]);
  }
  std::fprintf(stderr,
               "speculative: %lld steps | mean acceptance %.2f tok/step (bonus included) | "
               "accepted %lld of %lld drafts | draft %.3f s, verify %.3f s (target pass %.3f, "
               "observe %.3f) | %.1f tok/s\n"
               "acceptance histogram (tokens per step: steps): %s\n"
               "drafts a step (drafts: steps): %s\n",
               static_cast<long long>(spec.steps), spec.mean_acceptance_length(),
               static_cast<long long>(spec.accepted_tokens),
               static_cast<long long>(spec.drafted_tokens), spec.draft_seconds, spec.verify_seconds,
               spec.verify_pass_seconds, spec.observe_seconds, spec.tokens_per_second(),
               histogram.c_str(), drafts.c_str());
}

void print_speed_comparison(const SessionStats& plain, const SessionStats& speculative,
                            const std::string& speculator, bool same_tokens) {
  const double plain_rate = plain.decode_tokens_per_second();
  const double spec_rate = speculative.decode_tokens_per_second();
  const std::string ratio = plain_rate > 0 ? fmt::format("{:.2f}x", spec_rate / plain_rate) : "n/a";
  std::fprintf(stderr,
               "compare (same prompt, settings and seed, one model load):\n"
               "  plain decode                %10.1f tok/s (%lld tokens)\n"
               "  %-13s decode        %10.1f tok/s (%lld tokens), mean acceptance %.2f tok/step\n"
               "  speed-up                    %10s (%s / plain; same tokens: %s)\n",
               plain_rate, static_cast<long long>(plain.decode_tokens), speculator.c_str(),
               spec_rate, static_cast<long long>(speculative.decode_tokens),
               speculative.speculation.mean_acceptance_length(), ratio.c_str(), speculator.c_str(),
               same_tokens ? "yes" : "no");
}

}  // namespace mimo::cli
