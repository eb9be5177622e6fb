// `mimo-cli generate`: continue a prompt given as text (-p, streamed back as text through the
// model's tokenizer) or as token ids (--tokens FILE, ids printed); optionally with speculative
// decoding (DFlash / n-gram), and with --compare-plain a second, plain run of the same prompt,
// settings and seed on the same loaded model, then both speeds and their ratio. Ctrl-C stops
// generation and still prints the statistics.
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <optional>

#include "cli/commands.hpp"
#include "cli/default_paths.hpp"
#include "cli/model_loading.hpp"
#include "cli/number_flags.hpp"
#include "cli/token_file.hpp"
#include "mimo/error.hpp"
#include "mimo/speculator.hpp"
#include "mimo/tokenizer.hpp"

namespace mimo::cli {

namespace {

struct GenerateFlags {
  ModelFlags model;
  std::string tokens_file;
  std::string prompt_text;
  SamplerConfig sampling;
  int max_tokens = 128;
  bool ignore_eos = false;
  std::string speculative = "none";
  std::string draft_dir;
  int draft_block = 0;                    // 0: the drafter's block size (dflash) / 8 (ngram)
  std::string draft_length = "adaptive";  // GenerateOptions::draft_length
  bool compare_plain = false;
};

std::shared_ptr<Speculator> make_speculator(const GenerateFlags& flags, const Model& model) {
  if (flags.speculative == "dflash" || flags.speculative == "dflash+lookup") {
    const std::string draft_dir = flags.draft_dir.empty() ? default_drafter_dir() : flags.draft_dir;
    DFlashOptions options;
    options.block_size = flags.draft_block;
    options.num_threads = flags.model.threads;
    auto drafter = make_dflash_speculator(model, draft_dir, options);
    return flags.speculative == "dflash" ? drafter : make_lookup_first_speculator(drafter);
  }
  if (flags.speculative == "ngram") {
    return make_ngram_speculator(3, flags.draft_block > 1 ? flags.draft_block - 1 : 7);
  }
  return nullptr;
}

std::atomic<Session*> g_generating{nullptr};

void interrupt_generation(int) {
  if (Session* session = g_generating.load()) session->cancel();
}

int run_generate(const GenerateFlags& flags) {
  const bool text_mode = flags.tokens_file.empty();
  std::optional<Tokenizer> tokenizer;
  std::vector<std::int32_t> prompt;
  if (text_mode) {
    tokenizer = Tokenizer::from_model_dir(flags.model.model_dir);
    prompt = tokenizer->encode(flags.prompt_text);
  } else {
    prompt = read_token_file(flags.tokens_file);
  }
  auto model = load_model(flags.model);
  if (!text_mode) check_token_ids(prompt, model->summary().vocab_size, flags.tokens_file);
  auto session = model->new_session();
  Sampler sampler(flags.sampling);
  GenerateOptions options;
  options.max_tokens = flags.max_tokens;
  options.ignore_eos = flags.ignore_eos;
  options.speculator = make_speculator(flags, *model);
  options.draft_length = flags.draft_length == "max" ? GenerateOptions::DraftLength::kMax
                         : flags.draft_length == "adaptive-sampled"
                             ? GenerateOptions::DraftLength::kAdaptiveSampled
                             : GenerateOptions::DraftLength::kAdaptive;
  if (text_mode && options.stop_token_ids.empty() && model->summary().eos_token_ids.empty()) {
    if (auto eos = tokenizer->eos_id()) options.stop_token_ids = {*eos};
  }
  std::optional<TokenStreamDecoder> stream;
  if (text_mode) {
    stream.emplace(*tokenizer);
    std::fputs(flags.prompt_text.c_str(), stdout);
  }
  bool first = true;
  g_generating = session.get();
  std::signal(SIGINT, interrupt_generation);
  GenerateResult result = session->generate(prompt, sampler, options, [&](const SampleResult& s) {
    if (stream) {
      std::fputs(stream->push(s.token).text.c_str(), stdout);
    } else {
      std::printf(first ? "%d" : " %d", s.token);
    }
    std::fflush(stdout);
    first = false;
    return true;
  });
  std::signal(SIGINT, SIG_DFL);
  g_generating = nullptr;
  if (stream) std::fputs(stream->flush().text.c_str(), stdout);
  std::printf("\n");
  std::fflush(stdout);
  print_stats(session->stats());
  if (const std::string summary = options.speculator ? options.speculator->summary() : "";
      !summary.empty()) {
    std::fprintf(stderr, "%s: %s\n", options.speculator->name().c_str(), summary.c_str());
  }
  if (result.reason == StopReason::kContextFull) {
    std::fprintf(stderr,
                 "stopped early: the context is full (%lld of %lld tokens; --context raises it)\n",
                 static_cast<long long>(session->position()),
                 static_cast<long long>(model->summary().max_context));
  }
  if (result.reason == StopReason::kCancelled) return 130;
  if (flags.compare_plain) {
    // The same prompt, sampler settings and seed without the speculator, in a fresh session.
    auto plain_session = model->new_session();
    Sampler plain_sampler(flags.sampling);
    GenerateOptions plain_options = options;
    plain_options.speculator = nullptr;
    const GenerateResult plain = plain_session->generate(prompt, plain_sampler, plain_options);
    print_speed_comparison(plain_session->stats(), session->stats(), flags.speculative,
                           plain.tokens == result.tokens);
  }
  return 0;
}

}  // namespace

Command register_generate(CLI::App& app) {
  auto* sub = app.add_subcommand("generate", "Generate a continuation of a prompt");
  auto flags = std::make_shared<GenerateFlags>();
  add_model_flags(*sub, flags->model);
  auto* text = sub->add_option("-p,--prompt", flags->prompt_text,
                               "prompt text (tokenized with the model's tokenizer; output streamed "
                               "as text)");
  auto* ids = sub->add_option("--tokens", flags->tokens_file,
                              "prompt as a file of token ids (output printed as ids)");
  text->excludes(ids);
  ids->excludes(text);
  sub->callback([flags, sub] {
    if (flags->tokens_file.empty() && sub->count("--prompt") == 0) {
      throw CLI::RequiredError("--prompt or --tokens");
    }
    if (flags->compare_plain && flags->speculative == "none") {
      throw CLI::ValidationError("--compare-plain",
                                 "needs --speculative dflash, ngram or dflash+lookup");
    }
  });
  add_sampling_flags(*sub, flags->sampling, flags->max_tokens);
  sub->add_flag("--ignore-eos", flags->ignore_eos, "do not stop at end-of-sequence tokens");
  sub->add_option("--speculative", flags->speculative,
                  "speculative decoding: none, dflash, ngram, dflash+lookup (prompt lookup "
                  "where it is expected to pay, the DFlash drafter otherwise)")
      ->check(CLI::IsMember({"none", "dflash", "ngram", "dflash+lookup"}));
  sub->add_option("--draft", flags->draft_dir,
                  "DFlash drafter directory (default: $MIMO_DRAFTER or the demo drafter)");
  add_number_option(*sub, "--draft-block", flags->draft_block,
                    "tokens per verify block (1 + drafts; 0 = the drafter's / 8 for ngram)")
      ->check(CLI::Range(0, 1024));
  sub->add_option("--draft-length", flags->draft_length,
                  "drafts a step: adaptive (greedy steps pick the fastest count), "
                  "adaptive-sampled (sampled steps too; seeded runs may differ), max")
      ->check(CLI::IsMember({"adaptive", "adaptive-sampled", "max"}))
      ->capture_default_str();
  sub->add_flag("--compare-plain", flags->compare_plain,
                "then generate again without speculation (same prompt, settings and seed) and "
                "print both decode speeds, their ratio and the mean acceptance");
  return {sub, [flags] { return run_generate(*flags); }};
}

}  // namespace mimo::cli
