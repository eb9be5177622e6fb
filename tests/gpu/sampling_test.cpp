// Sampling on the GPU (cuda/runtime/device_sampler.hpp) against mimo::Sampler on the host, the
// chain's definition (docs/sampling.md): for fresh random rows (with ties, banned tokens and
// penalised history) and every filter, the device must draw the same token with the same
// generator value, with the same log-prob and top log-probs. Then through the public API:
// Session::generate with sampling on the device == with sampling on the host, plain and with a
// speculator (greedy verify rows sampled on the device, each with its drafts in the penalty
// window).
// Tolerances: tokens and top log-prob ids exact; log-probs 2e-6 relative (a double sum in
// another order).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "api/draft_sampling.hpp"
#include "api/sampler_access.hpp"
#include "api/speculative_verify.hpp"
#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_sampler.hpp"
#include "cuda/stream/draft_draws.hpp"
#include "gpu_test_support.hpp"
#include "mimo/model.hpp"
#include "mimo/sampler.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

bool close(float a, float b) {
  return std::fabs(a - b) <= 2e-6f * std::max(1.0f, std::fabs(b));
}

// A row of logits: normal values; with `ties`, rounded to halves so many tokens share a value;
// a few tokens banned with -infinity.
std::vector<float> random_row(std::mt19937_64& rng, int vocab, bool ties) {
  std::vector<float> row = gpu_test::random_floats(rng, vocab, 3.0f);
  if (ties) {
    for (float& l : row) l = std::round(l * 2.0f) / 2.0f;
  }
  std::uniform_int_distribution<int> pick(0, vocab - 1);
  for (int i = 0; i < vocab / 50; ++i) row[pick(rng)] = -kInf;
  return row;
}

struct Case {
  std::string name;
  SamplerConfig config;
};

std::vector<Case> cases(int vocab) {
  std::vector<Case> out;
  SamplerConfig c;
  out.push_back({"greedy", c});
  c.top_logprobs = 5;
  out.push_back({"greedy, top log-probs", c});
  c = {};
  c.temperature = 1.0f;
  out.push_back({"temperature 1", c});
  c.temperature = 0.7f;
  c.top_k = 40;
  out.push_back({"top-k", c});
  c = {};
  c.temperature = 1.3f;
  c.top_p = 0.9f;
  out.push_back({"top-p", c});
  c = {};
  c.temperature = 0.8f;
  c.min_p = 0.05f;
  out.push_back({"min-p", c});
  c = {};
  c.temperature = 1.0f;
  c.top_k = 100;
  c.top_p = 0.95f;
  c.min_p = 0.01f;
  c.top_logprobs = 8;
  out.push_back({"top-k, top-p, min-p, top log-probs", c});
  c = {};
  c.temperature = 0.9f;
  c.top_p = 0.8f;
  c.repetition_penalty = 1.3f;
  c.presence_penalty = 0.4f;
  c.frequency_penalty = 0.2f;
  c.penalty_last_n = 32;
  c.logit_bias = {{17 % vocab, 2.5f}, {17 % vocab, -1.0f}, {3 % vocab, 0.25f}};
  if (vocab > 5) c.logit_bias.insert(c.logit_bias.begin(), {5, -kInf});  // not the only token
  c.top_logprobs = 3;
  out.push_back({"penalties and logit bias", c});
  c.temperature = 0.0f;
  out.push_back({"greedy with penalties and logit bias", c});
  return out;
}

std::optional<SampleResult> sample_on_device(cuda::DeviceSampler& device, const float* logits,
                                             const exec::SampleRequest& request) {
  REQUIRE(device.fits(request));
  device.stage(request);
  device.issue(logits, cuda::DeviceSampler::mode_of(request), nullptr);
  cuda::synchronize();
  return device.result();
}

TEST_CASE("GPU sampling draws what mimo::Sampler draws, for every filter", "[gpu][sampling]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int vocab : {1, 3, 1000, 4097, 151936}) {
    cuda::DeviceSampler device(vocab);
    for (int row_index = 0; row_index < 4; ++row_index) {
      const bool ties = row_index % 2 == 1;
      std::vector<float> row = random_row(rng, vocab, ties);
      if (vocab <= 3) row.assign(vocab, 0.5f);  // all tied
      const cuda::DeviceBuffer logits = cuda::to_device(row);
      for (const Case& c : cases(vocab)) {
        INFO("vocab " << vocab << ", row " << row_index << (ties ? " (ties)" : "") << ", "
                      << c.name);
        Sampler host(c.config);
        std::uniform_int_distribution<int> pick(0, vocab - 1);
        for (int i = 0; i < 40; ++i) host.accept(pick(rng));
        // Successive draws walk the generator through many values of u.
        for (int draw = 0; draw < 12; ++draw) {
          INFO("draw " << draw);
          const std::optional<exec::SampleRequest> request =
              SamplerAccess::device_request(host, vocab);
          REQUIRE(request);
          const SampleResult want = host.sample(row.data(), vocab);
          const std::optional<SampleResult> got =
              sample_on_device(device, logits.as<float>(), *request);
          REQUIRE(got);
          CHECK(got->token == want.token);
          CHECK(close(got->logprob, want.logprob));
          REQUIRE(got->top_logprobs.size() == want.top_logprobs.size());
          for (std::size_t k = 0; k < want.top_logprobs.size(); ++k) {
            CHECK(got->top_logprobs[k].first == want.top_logprobs[k].first);
            CHECK(close(got->top_logprobs[k].second, want.top_logprobs[k].second));
          }
        }
      }
      // The device sampled from a copy: the row itself is untouched.
      CHECK(cuda::to_host<float>(logits, row.size()) == row);
    }
  }
}

TEST_CASE("GPU speculative verify rows decide drafts as the host does", "[gpu][sampling][spec]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int vocab : {2, 1000, 151936}) {
    cuda::DeviceSampler device(vocab);
    for (int row_index = 0; row_index < 3; ++row_index) {
      const std::vector<float> row = random_row(rng, vocab, row_index == 1);
      const cuda::DeviceBuffer logits = cuda::to_device(row);
      for (const Case& c : cases(vocab)) {
        if (c.config.temperature == 0.0f) continue;  // greedy verify is a plain greedy row
        SamplerConfig config = c.config;
        config.top_logprobs = 0;  // verify rows keep top log-probs on the host
        INFO("vocab " << vocab << ", row " << row_index << ", " << c.name);
        Sampler host(config);
        std::uniform_int_distribution<int> pick(0, vocab - 1);
        for (int i = 0; i < 20; ++i) host.accept(pick(rng));
        std::vector<float> p;
        for (int trial = 0; trial < 12; ++trial) {
          // Drafts: the most likely token (mostly accepted), a random one (mostly rejected, or
          // filtered out), and the bonus position (no draft).
          host.probabilities(row.data(), vocab, p);
          const std::int32_t likely =
              static_cast<std::int32_t>(std::max_element(p.begin(), p.end()) - p.begin());
          const std::int32_t draft = trial % 3 == 0 ? likely : trial % 3 == 1 ? pick(rng) : -1;
          INFO("trial " << trial << ", draft " << draft);
          std::optional<exec::SampleRequest> request = SamplerAccess::device_request(host, vocab);
          REQUIRE(request);
          request->draft = draft;
          Sampler advanced = host;
          std::vector<float> scratch;
          const SampleResult want = verify_sampled(host, row.data(), vocab, draft, scratch);
          const std::optional<SampleResult> got =
              sample_on_device(device, logits.as<float>(), *request);
          REQUIRE(got);
          CHECK(got->token == want.token);
          CHECK(close(got->logprob, want.logprob));
          // The generator advances as the host's verification advanced it.
          SamplerAccess::consume_device_draw(advanced, draft >= 0 && got->token != draft ? 2 : 1);
          CHECK(advanced.sample_from(p) == Sampler(host).sample_from(p));
        }
      }
    }
  }
}

TEST_CASE("GPU verify rows against a drawn proposal decide as verify_against_proposal does",
          "[gpu][sampling][spec]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  std::int64_t accepted = 0, rejected = 0;
  for (int vocab : {2, 1000, 151936}) {
    cuda::DeviceSampler device(vocab);
    for (int row_index = 0; row_index < 3; ++row_index) {
      const std::vector<float> row = random_row(rng, vocab, row_index == 1);
      const cuda::DeviceBuffer logits = cuda::to_device(row);
      // The drafter's row: the target's plus noise, so q is near P but not equal.
      std::vector<float> draft_row = gpu_test::random_floats(rng, vocab, 1.0f);
      for (int t = 0; t < vocab; ++t) draft_row[t] += row[t];
      for (const Case& c : cases(vocab)) {
        if (c.config.temperature == 0.0f) continue;
        SamplerConfig config = c.config;
        config.top_logprobs = 0;
        INFO("vocab " << vocab << ", row " << row_index << ", " << c.name);
        Sampler host(config);
        std::uniform_int_distribution<int> pick(0, vocab - 1);
        for (int i = 0; i < 20; ++i) host.accept(pick(rng));
        std::vector<float> q, p, residual;
        host.probabilities(draft_row.data(), vocab, q);
        const cuda::DeviceBuffer device_q =
            cuda::to_device(std::vector<double>(q.begin(), q.end()));
        Sampler proposer(config);
        for (int trial = 0; trial < 12; ++trial) {
          // Drafts drawn from q (as the drafter's are), and the most likely token under q.
          const std::int32_t draft =
              trial % 3 == 0
                  ? static_cast<std::int32_t>(std::max_element(q.begin(), q.end()) - q.begin())
                  : proposer.sample_from(q);
          INFO("trial " << trial << ", draft " << draft);
          std::optional<exec::SampleRequest> request = SamplerAccess::device_request(host, vocab);
          REQUIRE(request);
          request->draft = draft;
          request->proposal = device_q.get();
          Sampler advanced = host;
          const SampleResult want =
              verify_against_proposal(host, row.data(), vocab, draft, q.data(), p, residual);
          const std::optional<SampleResult> got =
              sample_on_device(device, logits.as<float>(), *request);
          REQUIRE(got);
          CHECK(got->token == want.token);
          CHECK(close(got->logprob, want.logprob));
          (got->token == draft ? accepted : rejected) += 1;
          SamplerAccess::consume_device_draw(advanced, got->token != draft ? 2 : 1);
          CHECK(advanced.sample_from(p) == Sampler(host).sample_from(p));
        }
      }
    }
  }
  INFO("accepted " << accepted << ", rejected " << rejected);
  CHECK(accepted > 0);  // both branches of the rule ran
  CHECK(rejected > 0);
}

TEST_CASE("GPU draft draws equal draw_drafts on the host, distributions included",
          "[gpu][sampling][spec]") {
  const std::uint64_t seed = gpu_test::fresh_seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int vocab : {1000, 151936}) {
    const int rows = 7;
    std::vector<float> logits;
    for (int r = 0; r < rows; ++r) {
      const std::vector<float> row = random_row(rng, vocab, r % 2 == 1);
      logits.insert(logits.end(), row.begin(), row.end());
    }
    const cuda::DeviceBuffer device_logits = cuda::to_device(logits);
    cuda::DraftDraws draws(vocab);
    for (const Case& c : cases(vocab)) {
      const SamplerConfig& config = c.config;
      if (config.temperature == 0.0f || config.repetition_penalty != 1.0f) continue;
      INFO("vocab " << vocab << ", " << c.name);
      for (int round = 0; round < 3; ++round) {
        Sampler host(config);
        for (int i = 0; i < round * 5; ++i) host.sample(logits.data(), vocab);  // move u along
        std::vector<exec::SampleRequest> requests;
        for (int i = 0; i < rows; ++i)
          requests.push_back(*SamplerAccess::device_request(host, vocab, i));
        const DrawnDrafts want = draw_drafts(host, logits, rows, vocab);
        const std::vector<std::int32_t> got = draws.draw(device_logits.as<float>(), requests);
        REQUIRE(got == want.tokens);
        const std::vector<float> q = draws.proposals_to_host(rows);
        REQUIRE(q.size() == want.q.size());
        double worst = 0;
        for (std::size_t i = 0; i < q.size(); ++i) {
          worst = std::max(worst, double(std::fabs(q[i] - want.q[i])));
        }
        INFO("worst |q - host q| " << worst);
        CHECK(worst <= 1e-6);
      }
    }
  }
}

TEST_CASE("GPU sampling declines rows the host sampler rejects", "[gpu][sampling]") {
  const int vocab = 2000;
  cuda::DeviceSampler device(vocab);
  std::mt19937_64 rng(gpu_test::fresh_seed());
  SamplerConfig config;
  config.temperature = 0.8f;
  Sampler host(config);
  const exec::SampleRequest request = *SamplerAccess::device_request(host, vocab);
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), kInf}) {
    std::vector<float> row = random_row(rng, vocab, false);
    row[1234] = bad;
    const cuda::DeviceBuffer logits = cuda::to_device(row);
    CHECK_FALSE(sample_on_device(device, logits.as<float>(), request));
    exec::SampleRequest greedy = request;
    greedy.config.temperature = 0.0f;
    CHECK_FALSE(sample_on_device(device, logits.as<float>(), greedy));
  }
  // Every token banned by the logit bias.
  std::vector<float> row = random_row(rng, vocab, false);
  const cuda::DeviceBuffer logits = cuda::to_device(row);
  exec::SampleRequest banned = request;
  for (int t = 0; t < vocab; ++t) banned.config.logit_bias.emplace_back(t, -kInf);
  CHECK_FALSE(sample_on_device(device, logits.as<float>(), banned));
  // A valid row right after: sampled again.
  CHECK(sample_on_device(device, logits.as<float>(), request));
  // More than the staging holds, or more top log-probs than come back: not taken.
  exec::SampleRequest huge = request;
  huge.penalty_counts.assign(cuda::DeviceSampler::kMaxEntries + 1, {1, 1});
  CHECK_FALSE(device.fits(huge));
  exec::SampleRequest many_top = request;
  many_top.config.top_logprobs = 1000;
  CHECK_FALSE(device.fits(many_top));
}

std::string data(const std::string& relative) {
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  return std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/" + relative;
}

TEST_CASE("GPU Session::generate samples on the device exactly as on the host", "[gpu][sampling]") {
  ModelOptions options;
  options.device = Device::kCuda;
  options.max_context = 512;
  options.max_step_tokens = 8;
  const auto device_model = Model::load(data("models/tiny-fp8"), options);
  options.sample_on_device = false;
  const auto host_model = Model::load(data("models/tiny-fp8"), options);
  REQUIRE(device_model->summary().device != "cpu");
  SamplerConfig config;
  config.temperature = 0.9f;
  config.top_p = 0.95f;
  config.top_k = 60;
  config.repetition_penalty = 1.1f;
  config.presence_penalty = 0.3f;
  config.top_logprobs = 4;
  config.seed = gpu_test::fresh_seed();
  INFO("sampler seed " << config.seed);
  GenerateOptions generate;
  generate.draft_length = GenerateOptions::DraftLength::kMax;  // fixed drafts: comparable runs
  generate.max_tokens = 150;
  generate.ignore_eos = true;
  const std::vector<std::int32_t> prompt = {1, 7, 42, 99, 5, 200};
  for (const float temperature : {0.0f, 0.9f}) {
    config.temperature = temperature;
    INFO("temperature " << temperature);
    Sampler on_device(config), on_host(config);
    auto a = device_model->new_session();
    auto b = host_model->new_session();
    std::vector<SampleResult> got, want;
    a->generate(prompt, on_device, generate, [&](const SampleResult& r) {
      got.push_back(r);
      return true;
    });
    b->generate(prompt, on_host, generate, [&](const SampleResult& r) {
      want.push_back(r);
      return true;
    });
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("token " << i);
      REQUIRE(got[i].token == want[i].token);
      CHECK(close(got[i].logprob, want[i].logprob));
      CHECK(got[i].top_logprobs.size() == want[i].top_logprobs.size());
    }
    // Both samplers end in the same state, and the logits the device kept are the host's.
    CHECK(a->logits() == b->logits());
    const std::vector<float>& last = b->logits();
    CHECK(on_device.sample(last.data(), int(last.size())).token ==
          on_host.sample(last.data(), int(last.size())).token);
    CHECK(a->fork()->logits() == b->logits());
  }
}

TEST_CASE("GPU speculative decoding verifies its rows on the device exactly as on the host",
          "[gpu][sampling][spec]") {
  ModelOptions options;
  options.device = Device::kCuda;
  options.max_context = 512;
  options.max_step_tokens = 8;
  const auto device_model = Model::load(data("models/tiny-fp8"), options);
  options.sample_on_device = false;
  const auto host_model = Model::load(data("models/tiny-fp8"), options);
  SamplerConfig config;  // penalties that change the argmax along the way
  config.repetition_penalty = 1.3f;
  config.presence_penalty = 0.5f;
  config.penalty_last_n = 16;
  config.logit_bias = {{3, -kInf}, {11, 1.5f}};
  GenerateOptions generate;
  generate.draft_length = GenerateOptions::DraftLength::kMax;  // fixed drafts: comparable runs
  generate.max_tokens = 160;
  generate.ignore_eos = true;
  const std::vector<std::int32_t> prompt = {1, 7, 42, 99, 5, 200, 7, 42, 99, 5};
  // Greedy once; sampled with fresh seeds until some drafts were accepted (a sampled run of the
  // tiny random model may reject every n-gram draft), each run compared in full.
  std::int64_t sampled_accepted = 0;
  for (int run = 0; run < 6 && (run == 0 || sampled_accepted == 0); ++run) {
    const float temperature = run == 0 ? 0.0f : 0.5f;
    config.temperature = temperature;
    config.top_p = temperature > 0.0f ? 0.95f : 1.0f;
    config.top_logprobs = temperature > 0.0f ? 0 : 3;  // sampled verify rows: none on the device
    config.seed = gpu_test::fresh_seed();
    INFO("temperature " << temperature << ", sampler seed " << config.seed);
    std::vector<SampleResult> got, want;
    std::unique_ptr<Session> a = device_model->new_session(), b = host_model->new_session();
    Sampler on_device(config), on_host(config);
    for (auto [session, sampler, out] :
         {std::tuple{a.get(), &on_device, &got}, std::tuple{b.get(), &on_host, &want}}) {
      generate.speculator = make_ngram_speculator(2, 7);
      session->generate(prompt, *sampler, generate, [out](const SampleResult& r) {
        out->push_back(r);
        return true;
      });
    }
    const std::int64_t accepted = a->stats().speculation.accepted_tokens;
    INFO("n-gram drafts accepted on the device: " << accepted);
    if (temperature == 0.0f) CHECK(accepted > 0);
    if (temperature > 0.0f) sampled_accepted += accepted;
    CHECK(accepted == b->stats().speculation.accepted_tokens);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("token " << i);
      REQUIRE(got[i].token == want[i].token);
      CHECK(close(got[i].logprob, want[i].logprob));
      REQUIRE(got[i].top_logprobs.size() == want[i].top_logprobs.size());
      for (std::size_t k = 0; k < got[i].top_logprobs.size(); ++k) {
        CHECK(got[i].top_logprobs[k].first == want[i].top_logprobs[k].first);
      }
    }
    // The logits kept on the device (the accepted row's) are the host's; the samplers agree.
    CHECK(a->logits() == b->logits());
    const std::vector<float>& last = b->logits();
    CHECK(on_device.sample(last.data(), int(last.size())).token ==
          on_host.sample(last.data(), int(last.size())).token);
  }
  CHECK(sampled_accepted > 0);  // sampled verification accepted drafts in some run
}

}  // namespace
}  // namespace mimo
