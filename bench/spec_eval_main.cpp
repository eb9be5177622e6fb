// mimo-spec-eval: the held-out speculative evaluation (bench/spec_eval.hpp) from the command
// line. Exits 1 when greedy speculative output differs from plain output, 2 on bad arguments.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "mimo/error.hpp"
#include "spec_eval.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "mimo-spec-eval: plain vs DFlash vs n-gram vs lookup-first DFlash over held-out prompts"};
  mimo::bench::SpecEvalOptions options;
  options.prompts_dir = MIMO_SPEC_EVAL_PROMPTS;
  std::string device = "cpu";
  app.add_option("--model", options.model_dir, "target checkpoint directory")->required();
  app.add_option("--draft", options.drafter_dir, "DFlash drafter directory")->required();
  app.add_option("--device", device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--tokens", options.tokens, "tokens generated per prompt and mode")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--prompts", options.prompts_dir, "directory of *.py prompts")
      ->capture_default_str();
  app.add_option("--max-prompts", options.max_prompts, "use the first N prompts (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--block", options.block_size, "DFlash block size (0: the drafter's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", options.num_threads, "CPU threads (0: all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--temperature", options.temperature, "of the sampled rows")
      ->check(CLI::Range(0.01f, 10.0f))
      ->capture_default_str();
  app.add_option("--seed", options.seed, "of the sampled rows")->capture_default_str();
  std::string draft_length = "adaptive";
  app.add_option("--draft-length", draft_length,
                 "adaptive (the session picks each step's drafts) or max (always the most)")
      ->check(CLI::IsMember({"adaptive", "max"}))
      ->capture_default_str();
  app.add_flag("--argmax-drafts", options.argmax_drafts,
               "sampled DFlash proposes the drafter's argmax (one-hot) instead of drawing from it");
  app.add_option("--lookup-drafts", options.lookup_drafts,
                 "the n-gram mode's most drafts (< the model's max_step_tokens)")
      ->check(CLI::Range(1, 1023))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  options.device = device == "cuda" ? mimo::Device::kCuda : mimo::Device::kCpu;
  options.draft_length = draft_length == "max" ? mimo::GenerateOptions::DraftLength::kMax
                                               : mimo::GenerateOptions::DraftLength::kAdaptive;
  try {
    const mimo::bench::SpecEvalReport report = mimo::bench::run_spec_eval(options);
    std::fputs(mimo::bench::format_spec_eval(report).c_str(), stdout);
    return report.lossless ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
