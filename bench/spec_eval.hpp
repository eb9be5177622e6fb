// Held-out speculative evaluation: plain, DFlash, n-gram and lookup-first DFlash decoding
// (make_lookup_first_speculator) over a directory of prompts
// (bench/spec_eval/prompts), greedy and sampled, through the public API only. Shared by
// mimo-spec-eval and the spec test suite.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mimo/model.hpp"
#include "mimo/session.hpp"

namespace mimo::bench {

struct SpecEvalOptions {
  std::string model_dir;
  std::string drafter_dir;
  std::string prompts_dir;  // every *.py file in it, in name order, is one prompt
  Device device = Device::kCpu;
  int num_threads = 0;  // CPU worker threads (ModelOptions::num_threads); 0 = all
  int tokens = 128;     // generated per prompt and mode (ignore_eos)
  int max_prompts = 0;  // 0 = all prompts
  int block_size = 0;   // DFlash verify block (DFlashOptions::block_size); 0: the drafter's
  float temperature = 0.7f;
  // Of the speculative runs (GenerateOptions::draft_length): kAdaptive, or kMax for the
  // speculator's most drafts every step.
  GenerateOptions::DraftLength draft_length = GenerateOptions::DraftLength::kAdaptive;
  std::uint64_t seed = 1;  // of every sampled run (one sampler per prompt and mode)
  // Sampled DFlash rows: false draws drafts from the drafter's distribution (the min(1, p/q)
  // rule), true proposes its argmax as a one-hot proposal (DFlashOptions::sample_drafts).
  bool argmax_drafts = false;
  // The n-gram mode's most drafts (its max_draft); at most ModelOptions::max_step_tokens - 1.
  // (The lookup-first mode picks its own, up to make_lookup_first_speculator's default.)
  int lookup_drafts = 7;
};

// One mode ("plain", "dflash", "ngram", "dflash+lookup") at one temperature, summed over the
// prompts.
struct SpecEvalRow {
  std::string mode;
  bool greedy = true;
  std::int64_t tokens = 0;  // decoded tokens over all prompts
  double decode_seconds = 0;
  double draft_seconds = 0;        // speculative rows: drafting, summed over the steps
  double verify_seconds = 0;       // speculative rows: verify passes and acceptance
  double verify_pass_seconds = 0;  // of verify_seconds: the target's passes
  double observe_seconds = 0;      // of verify_seconds: the speculator's observe
  std::int64_t steps = 0;          // speculative rows: verify steps
  double tokens_per_second = 0;    // tokens / decode_seconds
  double mean_acceptance = 0;      // emitted tokens per verify step (bonus included); 0 for plain
  double ratio_to_plain = 0;       // tokens_per_second / the plain row's at the same temperature
};

struct SpecEvalReport {
  std::string device;  // ModelSummary::device
  int prompts = 0;
  int tokens = 0;
  float temperature = 0;          // of the sampled rows
  std::vector<SpecEvalRow> rows;  // greedy plain, dflash, ngram, dflash+lookup; then sampled
  // Every greedy speculative mode's output equals plain greedy output on every prompt.
  bool lossless = true;
  std::vector<std::string> mismatches;  // "dflash: 03_bank_account.py" for each failure
  // Each speculative mode's Speculator::summary() after the evaluation (non-empty ones).
  std::vector<std::string> summaries;
};

// The *.py files of `dir`, sorted by name. Throws mimo::Error when there are none.
std::vector<std::string> list_prompt_files(const std::string& dir);

SpecEvalReport run_spec_eval(const SpecEvalOptions& options);

// The table: mode, decoding, tok/s, acceptance, ratio to plain; then the lossless verdict.
std::string format_spec_eval(const SpecEvalReport& report);

}  // namespace mimo::bench
