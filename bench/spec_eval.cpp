// Held-out speculative evaluation: every prompt runs with each mode (plain, DFlash, n-gram,
// DFlash with lookups first) at
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

enum class Mode { kPlain, kDFlash, kNgram, kLookupFirst };
constexpr Mode kModes[] = {Mode::kPlain, Mode::kDFlash, Mode::kNgram, Mode::kLookupFirst};
static_assert(kModes[0] == Mode::kPlain, "the reference of the ratios and of losslessness");

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::kPlain:
      return "plain";
    case Mode::kDFlash:
      return "dflash";
    case Mode::kNgram:
      return "ngram";
    case Mode::kLookupFirst:
      return "dflash+lookup";
  }
  return "?";
}

struct Run {
  std::vector<std::int32_t> tokens;
  SessionStats stats;
};

// One mode's session statistics summed over the prompts.
struct Totals {
  std::int64_t tokens = 0, steps = 0, emitted = 0;
  double decode_seconds = 0, draft_seconds = 0, verify_seconds = 0;
  double verify_pass_seconds = 0, observe_seconds = 0;

  void add(const SessionStats& stats) {
    tokens += stats.decode_tokens;
    decode_seconds += stats.decode_seconds;
    steps += stats.speculation.steps;
    emitted += stats.speculation.emitted_tokens;
    draft_seconds += stats.speculation.draft_seconds;
    verify_seconds += stats.speculation.verify_seconds;
    verify_pass_seconds += stats.speculation.verify_pass_seconds;
    observe_seconds += stats.speculation.observe_seconds;
  }

  SpecEvalRow row(const char* mode, bool greedy) const {
    SpecEvalRow r;
    r.mode = mode;
    r.greedy = greedy;
    r.tokens = tokens;
    r.decode_seconds = decode_seconds;
    r.draft_seconds = draft_seconds;
    r.verify_seconds = verify_seconds;
    r.verify_pass_seconds = verify_pass_seconds;
    r.observe_seconds = observe_seconds;
    r.steps = steps;
    r.tokens_per_second = decode_seconds > 0 ? tokens / decode_seconds : 0;
    r.mean_acceptance = steps > 0 ? static_cast<double>(emitted) / steps : 0;
    return r;
  }
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
  if (mode == Mode::kDFlash || mode == Mode::kLookupFirst) {
    DFlashOptions dflash;
    dflash.block_size = options.block_size;
    dflash.sample_drafts = !options.argmax_drafts;
    auto drafter = make_dflash_speculator(model, options.drafter_dir, dflash);
    return mode == Mode::kDFlash ? drafter : make_lookup_first_speculator(drafter);
  }
  if (mode == Mode::kNgram) return make_ngram_speculator(3, options.lookup_drafts);
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
  generate_options.draft_length = options.draft_length;
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
  // One full-length untimed run of each mode first (GPU: graph capture, allocations; CPU: page
  // faults on the weights, the pools' threads, the caches), so no mode's rate carries a cold start.
  for (const auto& speculator : speculators) {
    generate(*model, options, speculator, true, prompts[0], options.tokens);
  }

  SpecEvalReport report;
  report.device = model->summary().device;
  report.prompts = static_cast<int>(prompts.size());
  report.tokens = options.tokens;
  report.temperature = options.temperature;
  for (bool greedy : {true, false}) {
    std::vector<Totals> totals(std::size(kModes));
    for (std::size_t p = 0; p < prompts.size(); ++p) {
      // The modes take turns prompt by prompt, each prompt starting with another one, so load
      // that comes and goes on a shared machine (and which mode runs after which) weighs on all
      // modes alike instead of on whichever ran during it.
      std::vector<Run> runs(std::size(kModes));
      for (std::size_t k = 0; k < std::size(kModes); ++k) {
        const std::size_t m = (p + k) % std::size(kModes);
        runs[m] = generate(*model, options, speculators[m], greedy, prompts[p], options.tokens);
        totals[m].add(runs[m].stats);
      }
      if (!greedy) continue;
      for (std::size_t m = 1; m < std::size(kModes); ++m) {
        if (runs[m].tokens == runs[0].tokens) continue;
        report.lossless = false;
        report.mismatches.push_back(std::string(mode_name(kModes[m])) + ": " +
                                    std::filesystem::path(files[p]).filename().string());
      }
    }
    const double plain_rate = totals[0].row("", greedy).tokens_per_second;
    for (std::size_t m = 0; m < std::size(kModes); ++m) {
      SpecEvalRow row = totals[m].row(mode_name(kModes[m]), greedy);
      row.ratio_to_plain = plain_rate > 0 ? row.tokens_per_second / plain_rate : 0;
      report.rows.push_back(row);
    }
  }
  for (std::size_t m = 1; m < std::size(kModes); ++m) {
    const std::string summary = speculators[m]->summary();
    if (!summary.empty()) {
      report.summaries.push_back(std::string(mode_name(kModes[m])) + ": " + summary);
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
  std::snprintf(line, sizeof line, "%-13s %-8s %10s %12s %10s %16s %18s\n", "mode", "decoding",
                "tok/s", "acceptance", "vs plain", "draft/verify ms", "(pass/observe ms)");
  out += line;
  for (const auto& row : report.rows) {
    // A speculative row's mean drafting and verifying time per step; plain rows: per token.
    const double per = row.steps > 0 ? 1e3 / row.steps : row.tokens > 0 ? 1e3 / row.tokens : 0;
    // Of the verify time: the target's pass, and the speculator's observe of the kept rows.
    char split[40], parts[40] = "";
    if (row.steps > 0) {
      std::snprintf(split, sizeof split, "%.3f / %.3f", row.draft_seconds * per,
                    row.verify_seconds * per);
      std::snprintf(parts, sizeof parts, "(%.3f / %.3f)", row.verify_pass_seconds * per,
                    row.observe_seconds * per);
    } else {
      std::snprintf(split, sizeof split, "- / %.3f", row.decode_seconds * per);
    }
    std::snprintf(line, sizeof line, "%-13s %-8s %10.1f %12.2f %9.2fx %16s %18s\n",
                  row.mode.c_str(), row.greedy ? "greedy" : sampled, row.tokens_per_second,
                  row.mean_acceptance, row.ratio_to_plain, split, parts);
    out += line;
  }
  out += report.lossless
             ? "lossless: yes (greedy speculative output equals plain on every prompt)\n"
             : "lossless: NO\n";
  for (const auto& mismatch : report.mismatches) out += "  differs from plain: " + mismatch + "\n";
  for (const auto& summary : report.summaries) out += summary + "\n";
  return out;
}

}  // namespace mimo::bench
