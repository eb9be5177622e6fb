// The tensor-parallel executor on 2 GPUs (cuda/tp) against GpuExecutor on one GPU and the CPU
// reference, on every fixture of tests/data/models (tiny models: kv heads replicated where the
// plan says so): all logits of a multi-chunk prefill and hidden taps within the GPU suite's
// tolerance, greedy decode (graph-replayed) token-identical, graph replay = direct launches,
// run-to-run bit-identical, rewind / fork / cancel exact, and greedy n-gram speculative
// generation through the public API identical to plain greedy; the DFlash drafter of a
// tensor-parallel target runs on rank 0's GPU and gives transformers' greedy output.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>

#include "api/model_impl.hpp"
#include "cuda/stream/gpu_dflash_speculator.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "cuda/tp/tp_executor.hpp"
#include "exec/cpu_executor.hpp"
#include "mimo/error.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "support/catch.hpp"
#include "support/fixtures.hpp"

using mimo::cuda::tp::TensorParallelExecutor;
using mimo::exec::StepOptions;
using mimo::exec::StepOutput;

namespace {

const char* const kFixtures[] = {"tiny-bf16", "tiny-fp8", "tiny-mxfp4", "tiny-hub-fused"};

std::string data_dir() {
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  return env != nullptr ? env : MIMO_TEST_DATA_DIR;
}

std::shared_ptr<const mimo::Model> load(const std::string& name) {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.num_threads = 4;
  options.max_context = 256;
  options.max_step_tokens = 8;
  return mimo::Model::load(data_dir() + "/models/" + name, options);
}

void use_executor(const mimo::Model& model, std::unique_ptr<mimo::exec::Executor> executor) {
  const_cast<mimo::Model::Impl&>(model.impl()).executor = std::move(executor);
}

std::vector<std::int32_t> random_tokens(int n, int vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::int32_t> out(n);
  for (auto& t : out) t = static_cast<std::int32_t>(rng() % vocab);
  return out;
}

// Per row: relative L2 error <= 5e-5 and max |diff| <= 5e-4 * max(1, max |want|).
void check_close(const std::vector<float>& got, const std::vector<float>& want, int vocab) {
  REQUIRE(got.size() == want.size());
  for (std::size_t row = 0; row * vocab < want.size(); ++row) {
    double num = 0, den = 0;
    float scale = 0, worst = 0;
    for (int j = 0; j < vocab; ++j) {
      const double d = got[row * vocab + j] - want[row * vocab + j];
      num += d * d;
      den += double(want[row * vocab + j]) * want[row * vocab + j];
      scale = std::max(scale, std::abs(want[row * vocab + j]));
      worst = std::max(worst, static_cast<float>(std::abs(d)));
    }
    INFO("row " << row << " max |diff| " << worst << " max |logit| " << scale << " rel L2 "
                << std::sqrt(num / den));
    CHECK(std::sqrt(num / den) <= 5e-5);
    CHECK(worst <= 5e-4f * std::max(1.0f, scale));
    CHECK(scale > 0);
  }
}

// tiny-bf16 on the tensor-parallel executor over `devices` drafts with the DFlash drafter on
// rank 0's GPU (not the CPU's) and gives transformers' greedy DFlash output (the fixture the
// single-GPU speculative test checks), with drafts kept; the caller's current device is kept.
void check_gpu_drafter_on(const std::vector<int>& devices) {
  auto model = load("tiny-bf16");
  const auto& impl = model->impl();
  use_executor(*model,
               std::make_unique<TensorParallelExecutor>(impl.config, impl.weights, devices));
  const std::string dir = data_dir() + "/dflash/";
  const auto prompt = mimo::testing::read_tokens(dir + "prompt.txt");
  const auto expected = mimo::testing::read_tokens(dir + "greedy_dflash.txt");
  const int last = devices.back();
  REQUIRE(cudaSetDevice(last) == cudaSuccess);
  auto spec = mimo::make_dflash_speculator(*model, dir + "drafter");
  const auto* gpu = dynamic_cast<const mimo::cuda::GpuDFlashSpeculator*>(spec.get());
  REQUIRE(gpu != nullptr);
  CHECK(gpu->device() == devices.front());
  auto session = model->new_session();
  mimo::Sampler sampler(mimo::SamplerConfig{});
  mimo::GenerateOptions options;
  options.max_tokens = static_cast<int>(expected.size());
  options.ignore_eos = true;
  options.speculator = spec;
  CHECK(session->generate(prompt, sampler, options).tokens == expected);
  const mimo::SpeculationStats& st = session->stats().speculation;
  CHECK(st.steps > 0);
  CHECK(st.accepted_tokens > 0);
  int current = -1;
  REQUIRE(cudaGetDevice(&current) == cudaSuccess);
  CHECK(current == last);
}

int argmax(const float* row, int vocab) {
  return static_cast<int>(std::max_element(row, row + vocab) - row);
}

// The tensor-parallel executor over `devices` against GpuExecutor on device 0 and the CPU on
// every fixture: all logits of a 3-chunk prefill and hidden taps within tolerance, then 30
// greedy decode steps (graph-replayed) token-identical, each executor feeding its own choice.
void check_against_one_gpu_and_cpu(const std::vector<int>& devices) {
  for (const char* name : kFixtures) {
    INFO(name << " on " << devices.size() << " rank(s)");
    auto model = load(name);
    const auto& impl = model->impl();
    const int vocab = impl.config.vocab_size;
    const int last = impl.config.num_layers - 1;
    mimo::exec::CpuExecutor cpu(impl.config, impl.weights, 4);
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    auto gpu = mimo::cuda::make_gpu_executor(impl.config, impl.weights);
    TensorParallelExecutor tp(impl.config, impl.weights, devices);
    auto cpu_state = cpu.new_state({128, 8});
    auto gpu_state = gpu->new_state({128, 8});
    auto tp_state = tp.new_state({128, 8});
    StepOptions prefill;
    prefill.all_logits = true;
    prefill.hidden_taps = {0, last};
    const auto prompt = random_tokens(21, vocab, 17);  // 3 chunks of at most 8
    const StepOutput want = cpu.run(*cpu_state, prompt, prefill);
    const StepOutput one = gpu->run(*gpu_state, prompt, prefill);
    const StepOutput got = tp.run(*tp_state, prompt, prefill);
    check_close(got.logits, one.logits, vocab);
    check_close(got.logits, want.logits, vocab);
    REQUIRE(got.hidden.size() == want.hidden.size());
    float worst = 0;
    for (std::size_t i = 0; i < want.hidden.size(); ++i) {
      worst = std::max(worst,
                       std::abs(got.hidden[i] - want.hidden[i]) / (1 + std::abs(want.hidden[i])));
    }
    CHECK(worst <= 2e-4f);
    std::int32_t cpu_next = argmax(want.logits.data() + 20 * vocab, vocab);
    std::int32_t gpu_next = argmax(one.logits.data() + 20 * vocab, vocab);
    std::int32_t tp_next = argmax(got.logits.data() + 20 * vocab, vocab);
    for (int step = 0; step < 30; ++step) {
      INFO("decode step " << step);
      REQUIRE(tp_next == cpu_next);
      REQUIRE(tp_next == gpu_next);
      const std::vector<std::int32_t> token = {tp_next};
      const StepOutput w = cpu.run(*cpu_state, token, {});
      const StepOutput o = gpu->run(*gpu_state, token, {});
      const StepOutput g = tp.run(*tp_state, token, {});
      CHECK(tp.last_step().graph);
      check_close(g.logits, w.logits, vocab);
      cpu_next = argmax(w.logits.data(), vocab);
      gpu_next = argmax(o.logits.data(), vocab);
      tp_next = argmax(g.logits.data(), vocab);
    }
    CHECK(tp_state->length() == 51);
  }
}

// Steps of up to max_step_tokens tokens (verify blocks with every row's logits and hidden taps,
// decode, a last-row step, after a rewind) replayed from per-shape graphs on every rank give the
// bits of direct launches, and run-to-run the same bits.
void check_step_graphs_equal_direct(const std::vector<int>& devices) {
  for (const char* name : kFixtures) {
    INFO(name << " on " << devices.size() << " rank(s)");
    auto model = load(name);
    const auto& impl = model->impl();
    TensorParallelExecutor tp(impl.config, impl.weights, devices);
    const auto tokens = random_tokens(48, impl.config.vocab_size, 31);
    StepOptions verify;
    verify.all_logits = true;
    verify.hidden_taps = {0, impl.config.num_layers - 1};
    StepOptions wide = verify;
    wide.hidden_taps = {0, (impl.config.num_layers - 1) / 2, impl.config.num_layers - 1};
    auto run_all = [&](bool graphs, std::vector<bool>* replayed) {
      tp.set_use_graphs(graphs);
      auto state = tp.new_state({64, 8});
      std::vector<float> out = tp.run(*state, std::span(tokens).first(20), {}).logits;
      const auto step = [&](int begin, int n, const StepOptions& options) {
        const StepOutput o = tp.run(*state, std::span(tokens).subspan(begin, n), options);
        out.insert(out.end(), o.logits.begin(), o.logits.end());
        out.insert(out.end(), o.hidden.begin(), o.hidden.end());
        if (replayed != nullptr) replayed->push_back(tp.last_step().graph);
      };
      step(20, 8, verify);
      state->truncate(25);  // three of the block's rows rejected
      step(25, 1, {});
      step(26, 5, verify);
      step(31, 3, {});
      step(34, 8, {});  // the verify block's token count, last row only, no taps
      step(42, 1, {});
      step(43, 2, wide);    // more taps: the taps buffer grows, the graphs holding it go
      step(45, 3, verify);  // an earlier shape captured again over the new buffer
      return out;
    };
    const auto direct = run_all(false, nullptr);
    std::vector<bool> replayed;
    const auto graphed = run_all(true, &replayed);
    CHECK(replayed == std::vector<bool>(8, true));
    CHECK(graphed == direct);
    CHECK(run_all(true, nullptr) == graphed);
  }
}

}  // namespace

TEST_CASE("1-rank verify blocks replayed from graphs equal direct launches", "[tp][one-gpu]") {
  check_step_graphs_equal_direct({0});
}

TEST_CASE("2-GPU verify blocks replayed from graphs equal direct launches", "[tp]") {
  check_step_graphs_equal_direct({0, 1});
}

TEST_CASE("1-rank tensor-parallel programs equal GpuExecutor and the CPU on every fixture",
          "[tp][one-gpu]") {
  // One rank, no collectives: its stream runner issues the kernels GpuExecutor issues; only
  // the rank model's layout may differ.
  check_against_one_gpu_and_cpu({0});
}

TEST_CASE("a 1-rank tensor-parallel target drafts with the GPU drafter", "[tp][one-gpu][spec]") {
  check_gpu_drafter_on({0});
}

TEST_CASE("a 2-GPU target drafts on rank 0's GPU with the whole lm_head", "[tp][spec]") {
  check_gpu_drafter_on({0, 1});
  check_gpu_drafter_on({1, 0});
}

TEST_CASE("2 GPUs give the logits of 1 GPU and of the CPU on every fixture", "[tp]") {
  check_against_one_gpu_and_cpu({0, 1});
}

TEST_CASE("2-GPU steps are deterministic, and graph replay equals direct launches", "[tp]") {
  for (const char* name : kFixtures) {
    INFO(name);
    auto model = load(name);
    const auto& impl = model->impl();
    TensorParallelExecutor tp(impl.config, impl.weights, {0, 1});
    const auto tokens = random_tokens(30, impl.config.vocab_size, 29);
    auto run_all = [&](bool graphs) {
      tp.set_use_graphs(graphs);
      auto state = tp.new_state({64, 8});
      std::vector<float> logits = tp.run(*state, std::span(tokens).first(20), {}).logits;
      for (int i = 20; i < 30; ++i) {
        const auto step = tp.run(*state, std::span(tokens).subspan(i, 1), {}).logits;
        logits.insert(logits.end(), step.begin(), step.end());
      }
      return logits;
    };
    const auto direct = run_all(false);
    CHECK(run_all(false) == direct);
    const auto graphed = run_all(true);
    CHECK(run_all(true) == graphed);
    CHECK(graphed == direct);
  }
}

TEST_CASE("2-GPU states rewind, fork and cancel exactly", "[tp]") {
  auto model = load("tiny-hub-fused");
  const auto& impl = model->impl();
  TensorParallelExecutor tp(impl.config, impl.weights, {0, 1});
  const auto tokens = random_tokens(30, impl.config.vocab_size, 23);
  auto state = tp.new_state({64, 8});
  tp.run(*state, std::span(tokens).first(24), {});
  auto fork = state->clone();
  const StepOutput straight = tp.run(*state, std::span(tokens).subspan(24), {});
  REQUIRE(state->can_truncate(24));
  state->truncate(24);
  CHECK(tp.run(*state, std::span(tokens).subspan(24), {}).logits == straight.logits);
  CHECK(tp.run(*fork, std::span(tokens).subspan(24), {}).logits == straight.logits);
  std::atomic<bool> cancel{true};
  StepOptions options;
  options.cancel = &cancel;
  try {
    tp.run(*state, tokens, options);
    FAIL("not cancelled");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kCancelled);
  }
  CHECK(state->length() == 30);
  state->truncate(24);
  CHECK(tp.run(*state, std::span(tokens).subspan(24), {}).logits == straight.logits);
  const std::vector<std::int32_t> bad = {1, impl.config.vocab_size};
  CHECK_THROWS_AS(tp.run(*state, bad, {}), mimo::Error);
  CHECK(state->length() == 30);
  CHECK_THROWS_AS(TensorParallelExecutor(impl.config, impl.weights, {0, 0}), mimo::Error);
}

TEST_CASE("greedy and n-gram speculative generation on 2 GPUs equal the CPU's", "[tp][spec]") {
  for (const char* name : kFixtures) {
    INFO(name);
    auto reference = load(name);
    const int vocab = reference->summary().vocab_size;
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
    auto model = load(name);
    const auto& impl = model->impl();
    use_executor(*model,
                 mimo::cuda::make_tensor_parallel_executor(impl.config, impl.weights, {0, 1}));
    CHECK(generate(*model, nullptr, nullptr) == plain);
    mimo::SessionStats stats;
    CHECK(generate(*model, mimo::make_ngram_speculator(2, 5), &stats) == plain);
    CHECK(stats.speculation.steps > 0);
    CHECK(stats.speculation.accepted_tokens > 0);
  }
}

#if defined(MIMO_WITH_NCCL)
TEST_CASE("ModelOptions::num_devices = 2 loads the tensor-parallel executor", "[tp][api]") {
  for (const char* name : kFixtures) {
    INFO(name);
    auto reference = load(name);
    const int vocab = reference->summary().vocab_size;
    const auto prompt = random_tokens(12, vocab, 3);
    mimo::ModelOptions options;
    options.device = mimo::Device::kCuda;
    options.num_devices = 2;
    options.max_context = 256;
    options.max_step_tokens = 8;
    auto model = mimo::Model::load(data_dir() + "/models/" + name, options);
    CHECK(model->summary().device.find("tensor parallel, 2 ranks") != std::string::npos);
    auto generate = [&](const mimo::Model& m) {
      auto session = m.new_session();
      mimo::Sampler sampler(mimo::SamplerConfig{});
      mimo::GenerateOptions generate_options;
      generate_options.max_tokens = 40;
      generate_options.ignore_eos = true;
      return session->generate(prompt, sampler, generate_options).tokens;
    };
    CHECK(generate(*model) == generate(*reference));
  }
}
#endif
