// `mimo-cli score -m DIR --tokens FILE --logits-out OUT.npy`: logits of every token, for
// comparing against another implementation.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/model_loading.hpp"
#include "cli/npy_writer.hpp"
#include "cli/token_file.hpp"

namespace mimo::cli {

namespace {

struct ScoreFlags {
  ModelFlags model;
  std::string tokens_file;
  std::string logits_out;
};

int run_score(const ScoreFlags& flags) {
  std::vector<std::int32_t> tokens = read_token_file(flags.tokens_file);
  auto model = load_model(flags.model);
  auto session = model->new_session();
  std::vector<float> logits = session->score(tokens);
  const std::int64_t vocab = model->summary().vocab_size;
  if (!flags.logits_out.empty()) {
    write_npy_f32(flags.logits_out, logits, static_cast<std::int64_t>(tokens.size()), vocab);
  }
  fmt::print("scored {} tokens (vocab {}){}\n", tokens.size(), vocab,
             flags.logits_out.empty() ? "" : ", logits written to " + flags.logits_out);
  print_stats(session->stats());
  return 0;
}

}  // namespace

Command register_score(CLI::App& app) {
  auto* sub = app.add_subcommand("score", "Run token ids through the model and save the logits");
  auto flags = std::make_shared<ScoreFlags>();
  add_model_flags(*sub, flags->model);
  sub->add_option("--tokens", flags->tokens_file, "file of token ids (whitespace or commas)")
      ->required();
  sub->add_option("--logits-out", flags->logits_out, "write float32 logits [tokens, vocab] (.npy)");
  return {sub, [flags] { return run_score(*flags); }};
}

}  // namespace mimo::cli
