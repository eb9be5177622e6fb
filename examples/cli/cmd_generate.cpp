// `mimo-cli generate`: continue a prompt given as token ids (--tokens FILE) and print the
// generated ids, streamed as they come.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/model_loading.hpp"
#include "cli/token_file.hpp"

namespace mimo::cli {

namespace {

struct GenerateFlags {
  ModelFlags model;
  std::string tokens_file;
  SamplerConfig sampling;
  int max_tokens = 128;
  bool ignore_eos = false;
};

int run_generate(const GenerateFlags& flags) {
  std::vector<std::int32_t> prompt = read_token_file(flags.tokens_file);
  auto model = load_model(flags.model);
  auto session = model->new_session();
  Sampler sampler(flags.sampling);
  GenerateOptions options;
  options.max_tokens = flags.max_tokens;
  options.ignore_eos = flags.ignore_eos;
  bool first = true;
  GenerateResult result = session->generate(prompt, sampler, options, [&](const SampleResult& s) {
    std::printf(first ? "%d" : " %d", s.token);
    std::fflush(stdout);
    first = false;
    return true;
  });
  std::printf("\n");
  print_stats(session->stats());
  return result.reason == StopReason::kCancelled ? 130 : 0;
}

}  // namespace

Command register_generate(CLI::App& app) {
  auto* sub = app.add_subcommand("generate", "Generate a continuation of a prompt");
  auto flags = std::make_shared<GenerateFlags>();
  add_model_flags(*sub, flags->model);
  sub->add_option("--tokens", flags->tokens_file, "prompt as a file of token ids")->required();
  add_sampling_flags(*sub, flags->sampling, flags->max_tokens);
  sub->add_flag("--ignore-eos", flags->ignore_eos, "do not stop at end-of-sequence tokens");
  return {sub, [flags] { return run_generate(*flags); }};
}

}  // namespace mimo::cli
