// Shared by the mimo-cli subcommands that run a model: options, loading with a progress bar,
// the sampling flags, the closing statistics line and the plain-vs-speculative comparison.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "mimo/model.hpp"
#include "mimo/sampler.hpp"
#include "mimo/session.hpp"

namespace mimo::cli {

struct ModelFlags {
  std::string model_dir;
  std::string device = "auto";
  int threads = 0;
  std::int64_t context = 4096;
  bool host_sampling = false;      // sample on the host even when the model is on a GPU
  bool check_activations = false;  // ModelOptions::check_activations (runs on the CPU)
  std::string engine = "auto";     // ModelOptions::engine: auto, stream or persistent
};
void add_model_flags(CLI::App& app, ModelFlags& flags);
// Loads with a progress bar on stderr (when stderr is a terminal).
std::shared_ptr<const Model> load_model(const ModelFlags& flags);

void add_sampling_flags(CLI::App& app, SamplerConfig& config, int& max_tokens);

// "prefill 123.4 tok/s | decode 45.6 tok/s | first token 0.123 s" on stderr, plus the
// speculative decoding summary (steps, mean acceptance, histogram, times) when there was any.
void print_stats(const SessionStats& stats);

// generate --compare-plain, on stderr: the plain and the speculative run's decode tokens/s, their
// ratio (speculative / plain) and the speculative run's mean acceptance; `same_tokens` says
// whether both runs produced the same tokens (always, when greedy).
void print_speed_comparison(const SessionStats& plain, const SessionStats& speculative,
                            const std::string& speculator, bool same_tokens);

}  // namespace mimo::cli
