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
#include "spec_support.hpp"
#include "support/catch.hpp"

namespace {

using mimo::testing::spec_tests::data;
using mimo::testing::spec_tests::greedy;
using mimo::testing::spec_tests::read_ids;

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
