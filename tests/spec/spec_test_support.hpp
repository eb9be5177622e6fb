// Shared helpers of the speculative decoding tests: fixture paths and loading, token files,
// plain generation, and a scripted Speculator that proposes what the test tells it to.
#pragma once

#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "support/catch.hpp"

namespace spec_test {

inline std::string data(const std::string& relative) {
  return std::string(MIMO_TEST_DATA_DIR) + "/" + relative;
}

inline std::vector<std::int32_t> read_ids(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return {std::istream_iterator<std::int32_t>(in), std::istream_iterator<std::int32_t>()};
}

inline std::shared_ptr<const mimo::Model> load(const std::string& name,
                                               std::int64_t max_context = 256,
                                               int max_step_tokens = 8, int num_threads = 2) {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.num_threads = num_threads;
  options.max_context = max_context;
  options.max_step_tokens = max_step_tokens;
  return mimo::Model::load(data("models/" + name), options);
}

inline mimo::GenerateResult generate(
    const mimo::Model& model, const std::vector<std::int32_t>& prompt, int n,
    std::shared_ptr<mimo::Speculator> speculator = nullptr, mimo::SamplerConfig sampling = {},
    mimo::SessionStats* stats = nullptr,
    mimo::GenerateOptions::DraftLength draft_length = mimo::GenerateOptions::DraftLength::kMax) {
  auto session = model.new_session();
  mimo::Sampler sampler(sampling);
  mimo::GenerateOptions options;
  options.max_tokens = n;
  options.ignore_eos = true;
  options.speculator = std::move(speculator);
  // The most drafts every step by default: these tests check the drafts and their verification,
  // which a timing-driven draft count would make vary from run to run.
  options.draft_length = draft_length;
  mimo::GenerateResult result = session->generate(prompt, sampler, options);
  if (stats) *stats = session->stats();
  return result;
}

// Proposes whatever `script(context, max_draft)` returns.
class ScriptedSpeculator final : public mimo::Speculator {
 public:
  using Script = std::function<std::vector<std::int32_t>(const std::vector<std::int32_t>&, int)>;
  ScriptedSpeculator(Script script, int max_draft) : script_(std::move(script)), max_(max_draft) {}
  std::string name() const override { return "scripted"; }
  int max_draft() const override { return max_; }
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                    int max_draft) override {
    ++calls;
    return script_(context, max_draft);
  }
  int calls = 0;

 private:
  Script script_;
  int max_;
};

}  // namespace spec_test
