// The virtual-ranks executor (N tensor/expert-parallel ranks emulated on the CPU) against the
// 1-rank CpuExecutor on every fixture: logits within 1e-5 of the row's largest logit through
// multi-chunk prefill and decode, hidden taps alike, greedy continuations and greedy
// speculative decoding (n-gram, through the public API) token-identical, rewind / fork / cancel
// exact, and a clean error when the model cannot be split.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>

#include "api/model_impl.hpp"
#include "exec/cpu_executor.hpp"
#include "exec/virtual_ranks_executor.hpp"
#include "mimo/error.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "support/catch.hpp"

using mimo::exec::CpuExecutor;
using mimo::exec::StepOptions;
using mimo::exec::StepOutput;
using mimo::exec::VirtualRanksExecutor;

namespace {

const char* const kFixtures[] = {"tiny-bf16", "tiny-fp8", "tiny-mxfp4", "tiny-hub-fused"};

std::shared_ptr<const mimo::Model> load(const std::string& name) {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.num_threads = 2;
  options.max_context = 256;
  options.max_step_tokens = 8;
  return mimo::Model::load(std::string(MIMO_TEST_DATA_DIR) + "/models/" + name, options);
}

// Test seam: the loaded Model runs on `executor` from now on (before any session exists).
void use_executor(const mimo::Model& model, std::unique_ptr<mimo::exec::Executor> executor) {
  const_cast<mimo::Model::Impl&>(model.impl()).executor = std::move(executor);
}

std::vector<std::int32_t> random_tokens(int n, int vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::int32_t> out(n);
  for (auto& t : out) t = static_cast<std::int32_t>(rng() % vocab);
  return out;
}

// |got - want| <= 1e-5 * max |want| of the row, for every logit of every row.
void check_close(const std::vector<float>& got, const std::vector<float>& want, int vocab) {
  REQUIRE(got.size() == want.size());
  for (std::size_t row = 0; row * vocab < want.size(); ++row) {
    float scale = 0, worst = 0;
    for (int j = 0; j < vocab; ++j) scale = std::max(scale, std::abs(want[row * vocab + j]));
    for (int j = 0; j < vocab; ++j) {
      worst = std::max(worst, std::abs(got[row * vocab + j] - want[row * vocab + j]));
    }
    INFO("row " << row << " max |diff| " << worst << " max |logit| " << scale);
    CHECK(worst <= 1e-5f * scale);
    CHECK(worst < scale);  // the rows are not all zero
  }
}

int argmax(const float* row, int vocab) {
  return static_cast<int>(std::max_element(row, row + vocab) - row);
}

}  // namespace

TEST_CASE("N virtual ranks give the 1-rank logits on every fixture", "[exec][virtual]") {
  for (const char* name : kFixtures) {
    auto model = load(name);
    const auto& impl = model->impl();
    const int vocab = impl.config.vocab_size;
    const int last = impl.config.num_layers - 1;
    CpuExecutor reference(impl.config, impl.weights, 2);
    for (int variant = 0; variant < 4; ++variant) {
      const int ranks = variant % 2 == 0 ? 2 : 4;
      const auto split =
          variant < 2 ? mimo::exec::MoeSplit::kWholeExperts : mimo::exec::MoeSplit::kExpertColumns;
      INFO(name << " on " << ranks << " ranks, MoE split " << static_cast<int>(split));
      VirtualRanksExecutor virt(impl.config, impl.weights, ranks, 2, split);
      auto ref_state = reference.new_state({128, 8});
      auto virt_state = virt.new_state({128, 8});
      StepOptions prefill;
      prefill.all_logits = true;
      prefill.hidden_taps = {1, last};
      const auto prompt = random_tokens(21, vocab, 17);  // 3 chunks of at most 8
      const StepOutput want = reference.run(*ref_state, prompt, prefill);
      const StepOutput got = virt.run(*virt_state, prompt, prefill);
      check_close(got.logits, want.logits, vocab);
      REQUIRE(got.hidden.size() == want.hidden.size());
      for (std::size_t i = 0; i < want.hidden.size(); ++i) {
        REQUIRE(std::abs(got.hidden[i] - want.hidden[i]) <= 1e-4f * (1 + std::abs(want.hidden[i])));
      }
      // Greedy decode, each executor feeding its own choice back: same tokens, close logits.
      std::int32_t ref_next = argmax(want.logits.data() + 20 * vocab, vocab);
      std::int32_t virt_next = argmax(got.logits.data() + 20 * vocab, vocab);
      for (int step = 0; step < 30; ++step) {
        REQUIRE(virt_next == ref_next);
        const std::vector<std::int32_t> token = {ref_next};
        const StepOutput w = reference.run(*ref_state, token, {});
        const StepOutput g = virt.run(*virt_state, token, {});
        check_close(g.logits, w.logits, vocab);
        ref_next = argmax(w.logits.data(), vocab);
        virt_next = argmax(g.logits.data(), vocab);
      }
      CHECK(virt_state->length() == 51);
    }
  }
}

TEST_CASE("greedy and n-gram speculative generation through the API are unchanged",
          "[exec][virtual][spec]") {
  for (const char* name : kFixtures) {
    auto reference = load(name);
    const int vocab = reference->summary().vocab_size;
    // A repetitive prompt so that the n-gram speculator proposes and gets accepted.
    std::vector<std::int32_t> prompt = random_tokens(6, vocab, 5);
    for (int i = 0; i < 3; ++i) prompt.insert(prompt.end(), prompt.begin(), prompt.begin() + 6);
    auto generate = [&](const mimo::Model& model, std::shared_ptr<mimo::Speculator> spec,
                        mimo::SessionStats* stats) {
      auto session = model.new_session();
      mimo::Sampler sampler(mimo::SamplerConfig{});
      mimo::GenerateOptions options;
      options.draft_length =
          mimo::GenerateOptions::DraftLength::kMax;  // fixed drafts: comparable runs
      options.max_tokens = 60;
      options.ignore_eos = true;
      options.speculator = std::move(spec);
      auto tokens = session->generate(prompt, sampler, options).tokens;
      if (stats) *stats = session->stats();
      return tokens;
    };
    const auto plain = generate(*reference, nullptr, nullptr);
    REQUIRE(plain.size() == 60u);
    for (int ranks : {2, 4}) {
      INFO(name << " on " << ranks << " ranks");
      auto model = load(name);
      const auto& impl = model->impl();
      use_executor(*model, std::make_unique<VirtualRanksExecutor>(
                               impl.config, impl.weights, ranks, 2,
                               ranks == 2 ? mimo::exec::MoeSplit::kExpertColumns
                                          : mimo::exec::MoeSplit::kWholeExperts));
      CHECK(generate(*model, nullptr, nullptr) == plain);
      mimo::SessionStats stats;
      CHECK(generate(*model, mimo::make_ngram_speculator(2, 5), &stats) == plain);
      CHECK(stats.speculation.steps > 0);
      CHECK(stats.speculation.accepted_tokens > 0);
    }
  }
}

TEST_CASE("virtual-rank states rewind, fork and cancel exactly", "[exec][virtual]") {
  auto model = load("tiny-hub-fused");
  const auto& impl = model->impl();
  VirtualRanksExecutor virt(impl.config, impl.weights, 4, 2);
  const auto tokens = random_tokens(30, impl.config.vocab_size, 23);
  auto state = virt.new_state({64, 8});
  virt.run(*state, std::span(tokens).first(24), {});
  auto fork = state->clone();
  const StepOutput straight = virt.run(*state, std::span(tokens).subspan(24), {});
  // Rewind 6 tokens and replay them: the same logits, bit for bit.
  REQUIRE(state->can_truncate(24));
  state->truncate(24);
  const StepOutput replay = virt.run(*state, std::span(tokens).subspan(24), {});
  CHECK(replay.logits == straight.logits);
  const StepOutput forked = virt.run(*fork, std::span(tokens).subspan(24), {});
  CHECK(forked.logits == straight.logits);
  // A cancelled multi-chunk step leaves the state as it was.
  std::atomic<bool> cancel{true};
  StepOptions options;
  options.cancel = &cancel;
  try {
    virt.run(*state, tokens, options);
    FAIL("not cancelled");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kCancelled);
  }
  CHECK(state->length() == 30);
  state->truncate(24);
  CHECK(virt.run(*state, std::span(tokens).subspan(24), {}).logits == straight.logits);
  // Bad input fails before anything changes.
  const std::vector<std::int32_t> bad = {1, impl.config.vocab_size};
  CHECK_THROWS_AS(virt.run(*state, bad, {}), mimo::Error);
  CHECK(state->length() == 30);
  CHECK(virt.device_name().find("4 virtual ranks") != std::string::npos);
}

TEST_CASE("a model that cannot be split over N ranks is refused", "[exec][virtual]") {
  auto model = load("tiny-bf16");
  const auto& impl = model->impl();
  try {
    VirtualRanksExecutor virt(impl.config, impl.weights, 3, 1);
    FAIL("3 ranks accepted");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kInvalidArgument);
    CHECK(std::string(e.what()).find("num_attention_heads") != std::string::npos);
  }
}
