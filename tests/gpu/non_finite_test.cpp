// Non-finite logits on the GPU are reported, not sampled from: the device sampler declines a
// row with NaN or +inf (sampling_test.cpp), the session then checks the row on the host and
// throws kNonFinite naming its context position - for plain and speculative generation, greedy
// and sampled, as on the CPU (tests/api/hostile_session_test.cpp).
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "mimo/error.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "support/catch.hpp"
#include "support/error_message.hpp"
#include "support/poisoned_model.hpp"

namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  return std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/models/" + name;
}

std::string generate_error(const mimo::Model& model, const mimo::SamplerConfig& config,
                           bool speculative) {
  auto session = model.new_session();
  session->prefill({3, 4});
  mimo::Sampler sampler(config);
  mimo::GenerateOptions options;
  options.max_tokens = 4;
  options.ignore_eos = true;
  if (speculative) options.speculator = mimo::make_ngram_speculator();
  // The poisoned token's row is position 2.
  return mimo::testing::error_message([&] { session->generate({42}, sampler, options); },
                                      mimo::ErrorCode::kNonFinite);
}

TEST_CASE("GPU sessions report non-finite logits instead of sampling them", "[gpu]") {
  const fs::path dir =
      fs::temp_directory_path() / ("mimo_gpu_nan_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  mimo::testing::write_poisoned_model(fixture("tiny-bf16"), dir, 42, 0x7FC0);  // BF16 NaN
  mimo::ModelOptions options;
  options.device = mimo::Device::kCuda;
  options.max_context = 64;
  options.max_step_tokens = 8;
  options.sample_on_device = true;
  const auto model = mimo::Model::load(dir.string(), options);
  mimo::SamplerConfig greedy;
  mimo::SamplerConfig sampled;
  sampled.temperature = 0.8f;
  sampled.top_p = 0.95f;
  for (const auto& [config, name] : {std::pair{greedy, "greedy"}, std::pair{sampled, "T0.8"}}) {
    for (const bool speculative : {false, true}) {
      INFO(name << (speculative ? ", speculative" : ""));
      const std::string message = generate_error(*model, config, speculative);
      CHECK(message.find("context position 2") != std::string::npos);
      CHECK(message.find("NaN") != std::string::npos);
    }
  }
  // A clean context on the same model still generates.
  auto clean = model->new_session();
  mimo::Sampler sampler(greedy);
  mimo::GenerateOptions four;
  four.max_tokens = 4;
  four.ignore_eos = true;
  CHECK(clean->generate({3, 4, 5}, sampler, four).tokens.size() == 4);
  fs::remove_all(dir);
}

}  // namespace
