// The TokenConstraint hook of Session::generate on the tiny-bf16 fixture (256 tokens, no
// tokenizer) with hand-written constraints: only allowed tokens come out, the mask renormalises
// the sampled distribution, stop tokens only once complete, the ends of generation, and the
// rule that keeps constrained rows off the device sampler.
#include "api/constraint_gate.hpp"

#include <cmath>
#include <memory>
#include <vector>

#include "mimo/error.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "support/catch.hpp"

namespace {

const std::string kModel = std::string(MIMO_TEST_DATA_DIR) + "/models/tiny-bf16";

std::shared_ptr<const mimo::Model> tiny() {
  static const auto model = [] {
    mimo::ModelOptions options;
    options.device = mimo::Device::kCpu;
    options.max_context = 256;
    return mimo::Model::load(kModel, options);
  }();
  return model;
}

// Allows the tokens of `allowed` (a multiple of `modulus` plus `residue`) for `length` tokens,
// then is complete and allows nothing; records what it accepted.
struct Modular : mimo::TokenConstraint {
  int modulus = 3, residue = 1, length = 5;
  std::vector<std::int32_t> accepted;
  void allowed_tokens(std::vector<std::uint8_t>& allowed) override {
    if (static_cast<int>(accepted.size()) >= length) return;
    for (std::size_t t = 0; t < allowed.size(); ++t) allowed[t] = (t % modulus) == residue;
  }
  void accept(std::int32_t token) override { accepted.push_back(token); }
  bool complete() const override { return static_cast<int>(accepted.size()) >= length; }
};

struct Result {
  mimo::GenerateResult result;
  std::vector<mimo::SampleResult> samples;
};

Result run(const std::shared_ptr<mimo::TokenConstraint>& constraint, mimo::SamplerConfig config,
           mimo::GenerateOptions options) {
  auto session = tiny()->new_session();
  mimo::Sampler sampler(config);
  options.constraint = constraint;
  Result r;
  r.result = session->generate({1, 2, 3}, sampler, options, [&](const mimo::SampleResult& s) {
    r.samples.push_back(s);
    return true;
  });
  return r;
}

}  // namespace

TEST_CASE("constraint: only allowed tokens, then the end of generation", "[constraint]") {
  for (const float temperature : {0.0f, 1.0f}) {
    auto constraint = std::make_shared<Modular>();
    mimo::SamplerConfig config;
    config.temperature = temperature;
    config.seed = 9;
    config.top_logprobs = 300;
    mimo::GenerateOptions options;
    options.max_tokens = 20;
    options.ignore_eos = true;
    const Result r = run(constraint, config, options);
    CHECK(r.result.reason == mimo::StopReason::kConstraintComplete);
    REQUIRE(r.result.tokens.size() == 5);
    CHECK(constraint->accepted == r.result.tokens);
    for (const mimo::SampleResult& s : r.samples) {
      CHECK(s.token % 3 == 1);
      if (temperature == 0) continue;
      // The distribution is renormalised over the allowed tokens: their probabilities sum to 1.
      double mass = 0;
      for (const auto& [token, logprob] : s.top_logprobs) {
        CHECK(token % 3 == 1);
        mass += std::exp(double(logprob));
      }
      CHECK(std::abs(mass - 1.0) < 1e-4);
    }
  }
}

TEST_CASE("constraint: stop tokens are allowed once complete, never before", "[constraint]") {
  auto constraint = std::make_shared<Modular>();
  constraint->length = 3;
  mimo::SamplerConfig config;
  mimo::GenerateOptions options;
  options.max_tokens = 20;
  options.stop_token_ids = {5};  // 5 % 3 == 2: banned while the constraint runs
  // A bias that makes the stop token the model's favourite: it still waits for completion.
  config.logit_bias = {{5, 50.0f}};
  const Result r = run(constraint, config, options);
  CHECK(r.result.reason == mimo::StopReason::kStopToken);
  REQUIRE(r.result.tokens.size() == 4);
  CHECK(r.result.tokens.back() == 5);
  CHECK(constraint->accepted.size() == 3);  // the stop token is not passed to accept()
}

TEST_CASE("constraint: no allowed token before completion is an error", "[constraint]") {
  auto constraint = std::make_shared<Modular>();
  constraint->modulus = 1000;  // only token 1 fits ...
  constraint->residue = 1;
  mimo::SamplerConfig config;
  config.logit_bias = {{1, -INFINITY}};  // ... and the bias bans it
  mimo::GenerateOptions options;
  options.ignore_eos = true;
  CHECK_THROWS_AS(run(constraint, config, options), mimo::Error);
  struct Nothing : mimo::TokenConstraint {
    void allowed_tokens(std::vector<std::uint8_t>&) override {}
    void accept(std::int32_t) override {}
    bool complete() const override { return false; }
  };
  CHECK_THROWS_AS(run(std::make_shared<Nothing>(), {}, options), mimo::Error);
}

TEST_CASE("constraint: rows are sampled on the host whenever a constraint is set", "[constraint]") {
  CHECK(mimo::may_sample_on_device(true, true, false));
  CHECK_FALSE(mimo::may_sample_on_device(true, true, true));
  CHECK_FALSE(mimo::may_sample_on_device(false, true, false));
  CHECK_FALSE(mimo::may_sample_on_device(true, false, false));
  // The gate itself: a masked copy, the stop tokens only when complete, null when done.
  Modular modular;
  modular.length = 1;
  mimo::ConstraintGate gate(&modular, {4, 9999}, 6);
  const std::vector<float> row(6, 0.5f);
  const float* masked = gate.mask(row.data(), 0);
  REQUIRE(masked != row.data());
  for (int t = 0; t < 6; ++t) CHECK(std::isinf(masked[t]) == (t % 3 != 1));
  gate.accept(4);  // a stop token: not passed on
  CHECK(modular.accepted.empty());
  gate.accept(1);
  masked = gate.mask(row.data(), 1);
  REQUIRE(masked != nullptr);
  for (int t = 0; t < 6; ++t) CHECK(std::isinf(masked[t]) == (t != 4));
  mimo::ConstraintGate done(&modular, {}, 6);
  CHECK(done.mask(row.data(), 1) == nullptr);
  mimo::ConstraintGate open(nullptr, {}, 6);
  CHECK(open.mask(row.data(), 0) == row.data());
}
