// Helpers the GPU speculation tests share (drafter_test.cpp, drafter_fused_test.cpp,
// speculative_test.cpp): fixture paths,
// loading a model for them, greedy / sampled generation with a speculator.
#pragma once

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

namespace mimo::testing::spec_tests {

// MIMO_TEST_DATA_DIR in the environment overrides the build-time path (the GPU machine runs
// binaries built elsewhere).
inline std::string data(const std::string& relative) {
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  return std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/" + relative;
}

inline std::string demo(const std::string& name) {
  return data("../../models/demo/" + name);
}

inline std::vector<std::int32_t> read_ids(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return {std::istream_iterator<std::int32_t>(in), std::istream_iterator<std::int32_t>()};
}

inline std::shared_ptr<const mimo::Model> load(const std::string& path, mimo::Device device,
                                               bool sample_on_device = true) {
  mimo::ModelOptions options;
  options.device = device;
  options.sample_on_device = sample_on_device;
  options.num_threads = 2;
  options.max_context = 1024;
  options.max_step_tokens = 8;
  return mimo::Model::load(path, options);
}

// n tokens after `prompt` with `config`'s sampler (the most drafts every step when speculating).
inline std::vector<std::int32_t> generate(const mimo::Model& model,
                                          const std::vector<std::int32_t>& prompt, int n,
                                          const mimo::SamplerConfig& config,
                                          std::shared_ptr<mimo::Speculator> speculator,
                                          mimo::SessionStats* stats = nullptr) {
  auto session = model.new_session();
  mimo::Sampler sampler(config);
  mimo::GenerateOptions options;
  options.draft_length = mimo::GenerateOptions::DraftLength::kMax;  // fixed drafts: comparable runs
  options.max_tokens = n;
  options.ignore_eos = true;
  options.speculator = std::move(speculator);
  std::vector<std::int32_t> tokens = session->generate(prompt, sampler, options).tokens;
  if (stats != nullptr) *stats = session->stats();
  return tokens;
}

inline std::vector<std::int32_t> greedy(const mimo::Model& model,
                                        const std::vector<std::int32_t>& prompt, int n,
                                        std::shared_ptr<mimo::Speculator> speculator = nullptr,
                                        mimo::SessionStats* stats = nullptr) {
  return generate(model, prompt, n, mimo::SamplerConfig{}, std::move(speculator), stats);
}

}  // namespace mimo::testing::spec_tests
