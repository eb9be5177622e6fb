// Speculative decoding on the GPU: greedy generation through the public API on a model loaded
// with Device::kCuda, with the n-gram speculator and with the DFlash drafter (its verify steps
// are multi-token GPU steps with hidden taps, rolled back on rejection), must equal plain greedy
// on the GPU token for token, and plain greedy on the GPU must equal the CPU's.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "support/catch.hpp"

namespace {

// MIMO_TEST_DATA_DIR in the environment overrides the build-time path (the GPU machine runs
// binaries built elsewhere).
std::string data(const std::string& relative) {
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  return std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/" + relative;
}

std::vector<std::int32_t> read_ids(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return {std::istream_iterator<std::int32_t>(in), std::istream_iterator<std::int32_t>()};
}

std::shared_ptr<const mimo::Model> load(const std::string& name, mimo::Device device,
                                        mimo::Engine engine = mimo::Engine::kAuto) {
  mimo::ModelOptions options;
  options.device = device;
  options.engine = engine;
  options.num_threads = 2;
  options.max_context = 512;
  options.max_step_tokens = 8;
  return mimo::Model::load(data("models/" + name), options);
}

std::vector<std::int32_t> greedy(const mimo::Model& model, const std::vector<std::int32_t>& prompt,
                                 int n, std::shared_ptr<mimo::Speculator> speculator = nullptr,
                                 mimo::SessionStats* stats = nullptr) {
  auto session = model.new_session();
  mimo::Sampler sampler(mimo::SamplerConfig{});
  mimo::GenerateOptions options;
  options.draft_length = mimo::GenerateOptions::DraftLength::kMax;  // fixed drafts: comparable runs
  options.max_tokens = n;
  options.ignore_eos = true;
  options.speculator = std::move(speculator);
  std::vector<std::int32_t> tokens = session->generate(prompt, sampler, options).tokens;
  if (stats != nullptr) *stats = session->stats();
  return tokens;
}

TEST_CASE("GPU greedy with n-gram and DFlash speculation equals plain greedy and the CPU",
          "[gpu][spec]") {
  for (const std::string name : {"tiny-bf16", "tiny-fp8", "tiny-mxfp4", "tiny-hub-fused"}) {
    INFO(name);
    const auto gpu = load(name, mimo::Device::kCuda);
    const auto cpu = load(name, mimo::Device::kCpu);
    REQUIRE(gpu->summary().device != "cpu");
    const std::string ref = name == "tiny-hub-fused" ? "tiny-bf16" : name;
    const auto prompt = read_ids(data("models/" + ref + "/reference/greedy_prompt.txt"));
    // Long enough to cross the tiny models' sliding window several times.
    const int n = 200;
    const auto plain = greedy(*gpu, prompt, n);
    REQUIRE(plain.size() == static_cast<std::size_t>(n));
    CHECK(plain == greedy(*cpu, prompt, n));

    mimo::SessionStats stats;
    CHECK(greedy(*gpu, prompt, n, mimo::make_ngram_speculator(3, 7), &stats) == plain);
    INFO("n-gram accepted " << stats.speculation.accepted_tokens);
    const bool dflash_fits = gpu->summary().hidden_size == 64 && gpu->summary().num_layers == 5;
    if (dflash_fits) {
      auto dflash = mimo::make_dflash_speculator(*gpu, data("dflash/drafter"));
      CHECK(greedy(*gpu, prompt, n, dflash, &stats) == plain);
      CHECK(stats.speculation.accepted_tokens > 0);
    }
  }
}

TEST_CASE("GPU ModelOptions::engine = kPersistent generates the stream runner's greedy tokens",
          "[gpu][engine]") {
  for (const std::string name : {"tiny-bf16", "tiny-mxfp4"}) {
    INFO(name);
    const auto stream = load(name, mimo::Device::kCuda, mimo::Engine::kStream);
    const auto persistent = load(name, mimo::Device::kCuda, mimo::Engine::kPersistent);
    const auto prompt = read_ids(data("models/" + name + "/reference/greedy_prompt.txt"));
    const auto want = greedy(*stream, prompt, 64);
    REQUIRE(want.size() == 64u);
    CHECK(greedy(*persistent, prompt, 64) == want);
    CHECK(greedy(*persistent, prompt, 64, mimo::make_ngram_speculator(3, 7)) == want);
  }
}

TEST_CASE("GPU DFlash greedy on the drafter's prompt equals transformers' greedy output",
          "[gpu][spec]") {
  const auto gpu = load("tiny-bf16", mimo::Device::kCuda);
  const auto prompt = read_ids(data("dflash/prompt.txt"));
  const auto expected = read_ids(data("dflash/greedy_dflash.txt"));
  const auto plain_expected = read_ids(data("dflash/greedy_plain.txt"));
  const int n = static_cast<int>(expected.size());
  auto dflash = mimo::make_dflash_speculator(*gpu, data("dflash/drafter"));
  CHECK(greedy(*gpu, prompt, n, dflash) == expected);
  CHECK(greedy(*gpu, prompt, static_cast<int>(plain_expected.size())) == plain_expected);
}

}  // namespace
