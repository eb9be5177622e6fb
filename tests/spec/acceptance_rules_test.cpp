// Acceptance of sampled DFlash verification with drafts drawn from the drafter's distribution
// (min(1, p/q)) against the drafter's argmax verified as a one-hot proposal, on the demo model
// and its drafter on the CPU. A measurement (hidden: run with
// `mimo_spec_tests "[acceptance]"`); docs/speculative.md, "Measured", records its output.
#include <cstdio>

#include "mimo/tokenizer.hpp"
#include "spec_test_support.hpp"

namespace {

std::string demo(const std::string& relative) {
  return std::string(MIMO_SOURCE_DIR) + "/models/demo/" + relative;
}

// Python openings in the demo model's domain (it was trained on Python source).
const std::vector<std::string> kPrompts = {
    "import os\n\n\ndef list_python_files(root):\n    \"\"\"Return the paths of all .py files "
    "below root.\"\"\"\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n",
    "def parse_args(argv):\n    parser = argparse.ArgumentParser(description=",
    "import json\n\n\ndef load_config(path):\n    with open(path) as f:\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "for i, line in enumerate(lines):\n    if not line.strip():\n",
    "    def __repr__(self):\n        return f\"",
    "try:\n    import numpy as np\nexcept ImportError:\n",
};

struct Measured {
  double tau = 0, per_draft = 0, first_kept = 0, draft_ms_per_step = 0;
};

Measured measure(const mimo::Model& model, const std::vector<std::vector<std::int32_t>>& prompts,
                 const mimo::SamplerConfig& config, bool sample_drafts, int tokens, int seeds) {
  mimo::SpeculationStats total;
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    for (int s = 0; s < seeds; ++s) {
      mimo::DFlashOptions options;
      options.sample_drafts = sample_drafts;
      auto dflash = mimo::make_dflash_speculator(model, demo("drafter"), options);
      mimo::SamplerConfig seeded = config;
      seeded.seed = 100 * p + s;
      mimo::SessionStats stats;
      spec_test::generate(model, prompts[p], tokens, dflash, seeded, &stats);
      const mimo::SpeculationStats& st = stats.speculation;
      total.steps += st.steps;
      total.drafted_tokens += st.drafted_tokens;
      total.accepted_tokens += st.accepted_tokens;
      total.emitted_tokens += st.emitted_tokens;
      total.draft_seconds += st.draft_seconds;
      const std::size_t bins = st.acceptance_histogram.size();
      if (total.acceptance_histogram.size() < bins) total.acceptance_histogram.resize(bins, 0);
      for (std::size_t n = 0; n < bins; ++n) {
        total.acceptance_histogram[n] += st.acceptance_histogram[n];
      }
    }
  }
  Measured m;
  m.tau = total.mean_acceptance_length();
  m.per_draft = static_cast<double>(total.accepted_tokens) / total.drafted_tokens;
  m.draft_ms_per_step = 1e3 * total.draft_seconds / total.steps;
  // Steps that emitted two or more tokens kept their first draft.
  std::int64_t kept = 0;
  for (std::size_t n = 2; n < total.acceptance_histogram.size(); ++n) {
    kept += total.acceptance_histogram[n];
  }
  m.first_kept = static_cast<double>(kept) / total.steps;
  return m;
}

}  // namespace

TEST_CASE("acceptance: drafts from q against one-hot argmax drafts, demo model on the CPU",
          "[.][acceptance]") {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.num_threads = 2;
  options.max_context = 1024;
  auto model = mimo::Model::load(demo("mixed"), options);
  const mimo::Tokenizer tokenizer = mimo::Tokenizer::from_model_dir(demo("mixed"));
  std::vector<std::vector<std::int32_t>> prompts;
  for (const std::string& text : kPrompts) prompts.push_back(tokenizer.encode(text));
  const int tokens = 128, seeds = 3;

  struct Setting {
    const char* name;
    mimo::SamplerConfig config;
  };
  std::vector<Setting> settings(4);
  settings[0].name = "greedy";
  settings[1].name = "temperature 0.7";
  settings[1].config.temperature = 0.7f;
  settings[2].name = "temperature 1.0";
  settings[2].config.temperature = 1.0f;
  settings[3].name = "README job (0.6, top-k 40, rep 1.1)";
  settings[3].config.temperature = 0.6f;
  settings[3].config.top_k = 40;
  settings[3].config.repetition_penalty = 1.1f;
  std::printf("%zu prompts x %d seeds x %d tokens, block 8 (7 drafts)\n", prompts.size(), seeds,
              tokens);
  std::printf("%-38s %-8s %8s %10s %11s %14s\n", "setting", "rule", "tau", "per draft",
              "first kept", "draft ms/step");
  for (const Setting& s : settings) {
    for (bool from_q : {true, false}) {
      if (s.config.temperature == 0.0f && !from_q) continue;  // greedy has one rule
      const Measured m = measure(*model, prompts, s.config, from_q, tokens, seeds);
      std::printf("%-38s %-8s %8.3f %10.3f %11.3f %14.3f\n", s.name,
                  s.config.temperature == 0.0f ? "argmax" : (from_q ? "q" : "one-hot"), m.tau,
                  m.per_draft, m.first_kept, m.draft_ms_per_step);
      CHECK(m.tau >= 1.0);
    }
  }
}
