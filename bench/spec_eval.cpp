// Held-out speculative evaluation: every prompt runs with each mode (plain, DFlash, n-gram) at
// each temperature in a fresh session; rates and acceptance come from the session statistics,
// summed over the prompts, so long prompts weigh by their decoded tokens.
#include "spec_eval.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "mimo/error.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "mimo/tokenizer.hpp"

namespace mimo::bench {

namespace {

enum class Mode { kPlain, kDFlash, kNgram };
constexpr Mode kModes[] = {Mode::kPlain, Mode::kDFlash, Mode::kNgram};

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::kPlain:
      return "plain";
    case Mode::kDFlash:
      return "dflash";
    case Mode::kNgram:
      return "ngram";
  }
  return "?";
}

struct Run {
  std::vector<std::int32_t> tokens;
  SessionStats stats;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot read prompt " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A mode's speculator, made once per evaluation: sessions run one after another, and each binds
// the speculator anew (include/mimo/session.hpp), so the drafter is not reloaded per prompt.
std::shared_ptr<Speculator> speculator_for(const Model& model, const SpecEvalOptions& options,
                                           Mode mode) {
  if (mode == Mode::kDFlash) return make_dflash_speculator(model, options.drafter_dir);
  if (mode == Mode::kNgram) return make_ngram_speculator();
  return nullptr;
}

Run generate(const Model& model, const SpecEvalOptions& options,
             const std::shared_ptr<Speculator>& speculator, bool greedy,
             const std::vector<std::int32_t>& prompt, int tokens) {
  SamplerConfig config;
  if (!greedy) {
    config.temperature = options.temperature;
    config.seed = options.seed;
  }
  Sampler sampler(config);
  GenerateOptions generate_options;
  generate_options.max_tokens = tokens;
  generate_options.ignore_eos = true;
  generate_options.speculator = speculator;
  auto session = model.new_session();
  Run run;
  run.tokens = session->generate(prompt, sampler, generate_options).tokens;
  run.stats = session->stats();
  return run;
}

}  // namespace

std::vector<std::string> list_prompt_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_regular_file() && entry.path().extension() == ".py") {
      files.push_back(entry.path().string());
    }
  }
  if (error) throw Error(ErrorCode::kIo, "cannot list prompts in " + dir + ": " + error.message());
  if (files.empty()) throw Error(ErrorCode::kInvalidArgument, "no *.py prompts in " + dir);
  std::sort(files.begin(), files.end());
  return files;
}

SpecEvalReport run_spec_eval(const SpecEvalOptions& options) {
  if (options.tokens < 1) throw Error(ErrorCode::kInvalidArgument, "tokens must be at least 1");
  std::vector<std::string> files = list_prompt_files(options.prompts_dir);
  if (options.max_prompts > 0 && static_cast<int>(files.size()) > options.max_prompts) {
    files.resize(options.max_prompts);
  }
  ModelOptions model_options;
  model_options.device = options.device;
  model_options.num_threads = options.num_threads;
  auto model = Model::load(options.model_dir, model_options);
  const Tokenizer tokenizer = Tokenizer::from_model_dir(options.model_dir);
  std::vector<std::vector<std::int32_t>> prompts;
  for (const auto& file : files) prompts.push_back(tokenizer.encode(read_text(file), false));

  std::vector<std::shared_ptr<Speculator>> speculators;
  for (Mode mode : kModes) speculators.push_back(speculator_for(*model, options, mode));
  // One short untimed run of each mode first (GPU: graph capture, allocations).
  for (const auto& speculator : speculators) {
    generate(*model, options, speculator, true, prompts[0], 8);
  }

  SpecEvalReport report;
  report.device = model->summary().device;
  report.prompts = static_cast<int>(prompts.size());
  report.tokens = options.tokens;
  report.temperature = options.temperature;
  std::vector<std::vector<std::int32_t>> reference(prompts.size());  // plain greedy output
  for (bool greedy : {true, false}) {
    double plain_rate = 0;
    for (std::size_t m = 0; m < std::size(kModes); ++m) {
      const Mode mode = kModes[m];
      SpecEvalRow row;
      row.mode = mode_name(mode);
      row.greedy = greedy;
      std::int64_t steps = 0, emitted = 0;
      for (std::size_t p = 0; p < prompts.size(); ++p) {
        Run run = generate(*model, options, speculators[m], greedy, prompts[p], options.tokens);
        row.tokens += run.stats.decode_tokens;
        row.decode_seconds += run.stats.decode_seconds;
        steps += run.stats.speculation.steps;
        emitted += run.stats.speculation.emitted_tokens;
        if (!greedy) continue;
        if (mode == Mode::kPlain) {
          reference[p] = run.tokens;
        } else if (run.tokens != reference[p]) {
          report.lossless = false;
          report.mismatches.push_back(row.mode + ": " +
                                      std::filesystem::path(files[p]).filename().string());
        }
      }
      row.tokens_per_second = row.decode_seconds > 0 ? row.tokens / row.decode_seconds : 0;
      row.mean_acceptance = steps > 0 ? static_cast<double>(emitted) / steps : 0;
      if (mode == Mode::kPlain) plain_rate = row.tokens_per_second;
      row.ratio_to_plain = plain_rate > 0 ? row.tokens_per_second / plain_rate : 0;
      report.rows.push_back(row);
    }
  }
  return report;
}

std::string format_spec_eval(const SpecEvalReport& report) {
  std::string out;
  char line[160];
  char sampled[32];
  std::snprintf(sampled, sizeof sampled, "t=%.2g", report.temperature);
  std::snprintf(line, sizeof line, "speculative evaluation on %s: %d prompts, %d tokens each\n",
                report.device.c_str(), report.prompts, report.tokens);
  out += line;
  std::snprintf(line, sizeof line, "%-8s %-8s %10s %12s %10s\n", "mode", "decoding", "tok/s",
                "acceptance", "vs plain");
  out += line;
  for (const auto& row : report.rows) {
    std::snprintf(line, sizeof line, "%-8s %-8s %10.1f %12.2f %9.2fx\n", row.mode.c_str(),
                  row.greedy ? "greedy" : sampled, row.tokens_per_second, row.mean_acceptance,
                  row.ratio_to_plain);
    out += line;
  }
  out += report.lossless ? "lossless: yes (greedy dflash and ngram equal plain on every prompt)\n"
                         : "lossless: NO\n";
  for (const auto& mismatch : report.mismatches) out += "  differs from plain: " + mismatch + "\n";
  return out;
}

}  // namespace mimo::bench
