// `mimo-cli score -m DIR --tokens FILE --logits-out OUT.npy`: logits of every token, for
// comparing against another implementation. `--perplexity TEXT_FILE` instead tokenizes a text
// with the model directory's tokenizer and prints its perplexity.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/model_loading.hpp"
#include "cli/npy_writer.hpp"
#include "cli/token_file.hpp"
#include "mimo/error.hpp"
#include "mimo/tokenizer.hpp"

namespace mimo::cli {

namespace {

struct ScoreFlags {
  ModelFlags model;
  std::string tokens_file;
  std::string logits_out;
  std::string perplexity_file;
};

// Tokens scored per Session::score call inside a window: bounds the logits buffer to
// kScoreChunk x vocab floats however long the window is.
constexpr std::size_t kScoreChunk = 64;

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, fmt::format("{}: cannot read the text file", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// -log softmax(row)[target] in float64.
double negative_log_likelihood(const float* row, std::int64_t vocab, std::int32_t target) {
  const float max_logit = *std::max_element(row, row + vocab);
  double sum = 0.0;
  for (std::int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max_logit);
  return std::log(sum) - (static_cast<double>(row[target]) - max_logit);
}

// exp(mean NLL of tokens 1..n-1). Texts longer than the context are scored in windows of the
// context length advancing by half a window; each token is scored once, in the first window that
// predicts it, so every token after the first window sees at least half a window of context.
int run_perplexity(const ScoreFlags& flags) {
  const std::string text = read_text_file(flags.perplexity_file);
  const Tokenizer tokenizer = Tokenizer::from_model_dir(flags.model.model_dir);
  const std::vector<TokenId> tokens = tokenizer.encode(text);
  if (tokens.size() < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: {} token(s); perplexity needs at least 2", flags.perplexity_file,
                            tokens.size()));
  }
  auto model = load_model(flags.model);
  const std::int64_t vocab = model->summary().vocab_size;
  const std::size_t window =
      static_cast<std::size_t>(std::max<std::int64_t>(2, model->summary().max_context));
  const std::size_t stride = std::max<std::size_t>(1, window / 2);
  double total_nll = 0.0;
  std::size_t scored_up_to = 0;  // tokens [1, scored_up_to] have been scored
  for (std::size_t begin = 0; scored_up_to + 1 < tokens.size(); begin += stride) {
    const std::size_t end = std::min(tokens.size(), begin + window);
    auto session = model->new_session();
    for (std::size_t chunk = begin; chunk < end; chunk += kScoreChunk) {
      const std::size_t chunk_end = std::min(end, chunk + kScoreChunk);
      const std::vector<std::int32_t> part(tokens.begin() + static_cast<std::ptrdiff_t>(chunk),
                                           tokens.begin() + static_cast<std::ptrdiff_t>(chunk_end));
      std::vector<float> logits;
      try {
        logits = session->score(part);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kNonFinite) throw;
        // Context positions count from the window's start: name the text's token too.
        throw Error(e.code(), fmt::format("{}: in the window starting at text token {}: {}",
                                          flags.perplexity_file, begin, e.what()));
      }
      for (std::size_t i = chunk; i < chunk_end; ++i) {
        if (i + 1 >= end || i + 1 <= scored_up_to) continue;
        total_nll += negative_log_likelihood(
            logits.data() + static_cast<std::ptrdiff_t>((i - chunk) * vocab), vocab, tokens[i + 1]);
        scored_up_to = i + 1;
      }
    }
  }
  const double mean_nll = total_nll / static_cast<double>(tokens.size() - 1);
  fmt::print(
      "perplexity {:.4f} over {} tokens (mean NLL {:.4f} nats/token; window {}, stride {})\n",
      std::exp(mean_nll), tokens.size() - 1, mean_nll, window, stride);
  return 0;
}

int run_score(const ScoreFlags& flags) {
  if (!flags.perplexity_file.empty()) return run_perplexity(flags);
  if (flags.tokens_file.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "score needs --tokens FILE or --perplexity FILE");
  }
  std::vector<std::int32_t> tokens = read_token_file(flags.tokens_file);
  auto model = load_model(flags.model);
  const std::int64_t vocab = model->summary().vocab_size;
  check_token_ids(tokens, vocab, flags.tokens_file);
  auto session = model->new_session();
  std::vector<float> logits = session->score(tokens);
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
  auto* sub = app.add_subcommand(
      "score",
      "Run token ids through the model and save the logits, or measure a text's perplexity");
  auto flags = std::make_shared<ScoreFlags>();
  add_model_flags(*sub, flags->model);
  auto* tokens =
      sub->add_option("--tokens", flags->tokens_file,
                      "file of token ids (separated by whitespace or commas, optionally in [])");
  auto* perplexity =
      sub->add_option("--perplexity", flags->perplexity_file,
                      "text file: tokenize with the model's tokenizer and print the perplexity");
  tokens->excludes(perplexity);
  sub->add_option("--logits-out", flags->logits_out, "write float32 logits [tokens, vocab] (.npy)")
      ->needs(tokens);
  return {sub, [flags] { return run_score(*flags); }};
}

}  // namespace mimo::cli
