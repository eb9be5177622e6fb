// The whole GPU forward (GpuExecutor) against the CPU reference (CpuExecutor) and the
// transformers fixtures of tests/data/models: logits of every reference sequence and hidden
// states, greedy continuations, decode == prefill, graph replay == direct launches, rewinds
// (including past a wrapped sliding ring) and the exact undo of a cancelled multi-chunk step.
//
// Tolerance GPU vs CPU and vs transformers: relative L2 <= 2e-5 and max-abs <= 2e-4 on logits and
// hidden states. Both backends compute in float32 from the same stored weights; they differ in
// summation order (per-warp partial sums, per-chunk scales) and libm (expf) rounding, ~1e-6 per
// op. Any wrong op (mask, rope pair, routing choice, ring slot) moves logits by 1e-2 or more.
// Graph replay vs direct launches and a replayed rewind run the same kernels on the same data
// and must match bit for bit.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>

#include "cuda/kernels/ops.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "exec/cpu_executor.hpp"
#include "forward_support.hpp"
#include "mimo/error.hpp"
#include "npy_reader.hpp"
#include "random_model.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

using gpu_forward::check_close;
using gpu_forward::Fixture;
using gpu_forward::open_fixture;
using gpu_forward::read_tokens;

void check_fixture(const std::string& name, const std::string& reference_of) {
  Fixture f = open_fixture(name, reference_of);
  const model::ModelConfig& config = f.model->config;
  INFO(name << " on " << f.gpu->device_name());
  int sequences = 0;
  for (int n = 1; std::ifstream(f.ref + "tokens_" + std::to_string(n) + ".txt").good(); ++n) {
    const auto tokens = read_tokens(f.ref + "tokens_" + std::to_string(n) + ".txt");
    const auto want = cpu::testing::read_npy_f32(f.ref + "logits_" + std::to_string(n) + ".npy");
    exec::StepOptions options;
    options.all_logits = true;
    for (int l = 0; l < config.num_layers; ++l) options.hidden_taps.push_back(l);
    // Chunks of 8 cross the sliding window (8) and ring edges on sequences longer than 15.
    auto gpu_state = f.gpu->new_state({static_cast<std::int64_t>(tokens.size()), 8});
    auto cpu_state = f.cpu->new_state({static_cast<std::int64_t>(tokens.size()), 8});
    const exec::StepOutput got = f.gpu->run(*gpu_state, tokens, options);
    const exec::StepOutput cpu = f.cpu->run(*cpu_state, tokens, options);
    const std::string what = name + " sequence " + std::to_string(n);
    check_close(got.logits, cpu.logits, what + " logits vs CPU");
    check_close(got.hidden, cpu.hidden, what + " hidden taps vs CPU");
    check_close(got.logits, want.data, what + " logits vs transformers");
    CHECK(gpu_state->length() == cpu_state->length());
    ++sequences;
  }
  REQUIRE(sequences > 0);

  // Greedy continuation: prefill the prompt, then replayed decode steps.
  const auto prompt = read_tokens(f.ref + "greedy_prompt.txt");
  const auto expected = read_tokens(f.ref + "greedy_output.txt");
  auto state = f.gpu->new_state({static_cast<std::int64_t>(prompt.size() + expected.size()), 4});
  exec::StepOutput out = f.gpu->run(*state, prompt, exec::StepOptions{});
  std::vector<std::int32_t> generated;
  while (generated.size() < expected.size()) {
    const auto best = std::max_element(out.logits.begin(), out.logits.end());
    generated.push_back(static_cast<std::int32_t>(best - out.logits.begin()));
    if (generated.size() < expected.size()) {
      out = f.gpu->run(*state, std::span(&generated.back(), 1), exec::StepOptions{});
      CHECK(f.gpu->last_step().graph);
    }
  }
  REQUIRE(generated == expected);
}

TEST_CASE("GPU forward: fixture tiny-bf16 matches the CPU and transformers", "[gpu]") {
  check_fixture("tiny-bf16", "tiny-bf16");
}
TEST_CASE("GPU forward: fixture tiny-fp8 matches the CPU and transformers", "[gpu]") {
  check_fixture("tiny-fp8", "tiny-fp8");
}
TEST_CASE("GPU forward: fixture tiny-mxfp4 matches the CPU and transformers", "[gpu]") {
  check_fixture("tiny-mxfp4", "tiny-mxfp4");
}
TEST_CASE("GPU forward: fixture tiny-odd-rope (an odd rotary dim) matches the CPU and transformers",
          "[gpu]") {
  check_fixture("tiny-odd-rope", "tiny-odd-rope");
}
TEST_CASE("GPU forward: fixture tiny-hub-fused matches the CPU and tiny-bf16's reference",
          "[gpu]") {
  check_fixture("tiny-hub-fused", "tiny-bf16");
}

// A 40-token sequence of the mxfp4 fixture: longer than the ring (window 8 + 4 - 1 = 11).
std::vector<std::int32_t> long_sequence(const model::ModelConfig& config) {
  std::vector<std::int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back((i * 37 + 11) % config.vocab_size);
  return tokens;
}

// The random model with MiMo's head shape (128-dim heads, 64-dim partial RoPE; the fixtures have
// 48 and 16): prefill chunks, replayed decode steps and a replayed verify step against the CPU
// executor. The full layers cut their keys into segments; the sliding rings are too short to.
TEST_CASE("GPU forward: 128-dim heads with 64-dim RoPE match the CPU", "[gpu]") {
  auto m = cpu::testing::make_random_model(11, 128, 64);
  const model::ModelConfig& config = m->config;
  exec::CpuExecutor cpu(config, m->weights, 2);
  cuda::GpuExecutor gpu(config, cuda::upload_model(config, m->weights));
  const std::int64_t max_context = 96;
  auto gpu_state = gpu.new_state({max_context, 8});
  auto cpu_state = cpu.new_state({max_context, 8});
  exec::StepOptions all;
  all.all_logits = true;
  std::vector<std::int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back((i * 31 + 7) % config.vocab_size);
  const auto step = [&](std::size_t begin, std::size_t count, const char* what) {
    const std::span<const std::int32_t> part(tokens.data() + begin, count);
    const exec::StepOutput got = gpu.run(*gpu_state, part, all);
    const exec::StepOutput want = cpu.run(*cpu_state, part, all);
    check_close(got.logits, want.logits, what);
  };
  step(0, 30, "prefill (chunks of 8)");
  for (std::size_t i = 30; i < 33; ++i) step(i, 1, "decode step");
  step(33, 5, "verify step of 5");
  CHECK(gpu.last_step().graph);
}

TEST_CASE("GPU forward: decode == prefill, graph replay == direct launches", "[gpu]") {
  Fixture f = open_fixture("tiny-mxfp4", "tiny-mxfp4");
  const auto tokens = long_sequence(f.model->config);
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  exec::StepOptions all;
  all.all_logits = true;
  auto prefill_state = f.gpu->new_state({total, 4});
  const exec::StepOutput prefill = f.gpu->run(*prefill_state, tokens, all);

  const int vocab = f.model->config.vocab_size;
  std::vector<float> graph_logits, direct_logits;
  for (bool graphs : {true, false}) {
    f.gpu->set_use_graphs(graphs);
    auto state = f.gpu->new_state({total, 4});
    std::vector<float>& logits = graphs ? graph_logits : direct_logits;
    for (std::int32_t t : tokens) {
      const exec::StepOutput out = f.gpu->run(*state, std::span(&t, 1), exec::StepOptions{});
      CHECK(f.gpu->last_step().graph == graphs);
      logits.insert(logits.end(), out.logits.begin(), out.logits.end());
    }
  }
  f.gpu->set_use_graphs(true);
  REQUIRE(graph_logits.size() == std::size_t(total) * vocab);
  CHECK(graph_logits == direct_logits);
  check_close(graph_logits, prefill.logits, "decode vs prefill");
}

TEST_CASE("GPU forward: multi-token steps replayed from graphs == direct launches", "[gpu]") {
  Fixture f = open_fixture("tiny-mxfp4", "tiny-mxfp4");
  const auto tokens = long_sequence(f.model->config);
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  // Blocks of 1..4 tokens with all logits and two hidden taps (a verify step's shape), and some
  // with the last logits only and no taps: each shape captured once, then replayed.
  std::vector<float> logits[2], hidden[2];
  for (bool graphs : {true, false}) {
    f.gpu->set_use_graphs(graphs);
    auto state = f.gpu->new_state({total, 4});
    std::int64_t begin = 0;
    for (int block = 0; begin < total; ++block) {
      const int n = static_cast<int>(std::min<std::int64_t>(1 + block % 4, total - begin));
      exec::StepOptions options;
      if (block % 3 != 2) {
        options.all_logits = true;
        options.hidden_taps = {0, f.model->config.num_layers - 1};
      }
      const exec::StepOutput out =
          f.gpu->run(*state, std::span(tokens.data() + begin, std::size_t(n)), options);
      CHECK(f.gpu->last_step().graph == graphs);
      logits[graphs].insert(logits[graphs].end(), out.logits.begin(), out.logits.end());
      hidden[graphs].insert(hidden[graphs].end(), out.hidden.begin(), out.hidden.end());
      begin += n;
    }
  }
  f.gpu->set_use_graphs(true);
  REQUIRE(!logits[1].empty());
  CHECK(logits[1] == logits[0]);
  CHECK(hidden[1] == hidden[0]);
}

TEST_CASE("GPU forward: programmatic dependent launch changes no bit", "[gpu]") {
  // Kernels launched with programmatic dependent launch start while their predecessor runs and
  // wait for it before touching activations; a kernel that read or wrote too early would show
  // here as a difference against plain stream order. Decode and verify-shaped steps, graphs and
  // direct launches.
  Fixture f = open_fixture("tiny-mxfp4", "tiny-mxfp4");
  const auto tokens = long_sequence(f.model->config);
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  std::vector<float> logits[2][2];
  for (bool overlap : {true, false}) {
    cuda::set_programmatic_launch(overlap);
    for (bool graphs : {true, false}) {
      f.gpu->set_use_graphs(graphs);
      auto state = f.gpu->new_state({total, 4});
      std::int64_t begin = 0;
      for (int block = 0; begin < total; ++block) {
        const int n =
            static_cast<int>(std::min<std::int64_t>(block % 2 == 0 ? 1 : 4, total - begin));
        exec::StepOptions options;
        options.all_logits = true;
        const exec::StepOutput out =
            f.gpu->run(*state, std::span(tokens.data() + begin, std::size_t(n)), options);
        std::vector<float>& into = logits[overlap][graphs];
        into.insert(into.end(), out.logits.begin(), out.logits.end());
        begin += n;
      }
    }
  }
  cuda::set_programmatic_launch(true);
  f.gpu->set_use_graphs(true);
  REQUIRE(logits[0][0].size() == std::size_t(total) * f.model->config.vocab_size);
  CHECK(logits[1][1] == logits[0][1]);
  CHECK(logits[1][0] == logits[0][0]);
  CHECK(logits[1][1] == logits[1][0]);
}

TEST_CASE("GPU forward: rewinds follow cpu::KvCache and replay exactly", "[gpu]") {
  Fixture f = open_fixture("tiny-mxfp4", "tiny-mxfp4");
  const auto tokens = long_sequence(f.model->config);
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  auto gpu = f.gpu->new_state({total, 4});
  auto cpu = f.cpu->new_state({total, 4});
  const std::span<const std::int32_t> head(tokens.data(), 30), tail(tokens.data() + 30, 4);
  f.gpu->run(*gpu, head, exec::StepOptions{});
  f.cpu->run(*cpu, head, exec::StepOptions{});
  exec::StepOptions all;
  all.all_logits = true;
  const exec::StepOutput first = f.gpu->run(*gpu, tail, all);
  f.cpu->run(*cpu, tail, all);
  for (std::int64_t n = 0; n <= total; ++n) {
    INFO("rewind to " << n);
    CHECK(gpu->can_truncate(n) == cpu->can_truncate(n));
  }
  // A whole verify block rejected and re-run: identical logits.
  gpu->truncate(30);
  const exec::StepOutput again = f.gpu->run(*gpu, tail, all);
  CHECK(again.logits == first.logits);
  // Past the ring floor: refused, state unchanged.
  CHECK_FALSE(gpu->can_truncate(10));
  CHECK_THROWS_AS(gpu->truncate(10), Error);
  CHECK(gpu->length() == 34);
  // A fork continues like its origin.
  auto fork = gpu->clone();
  const std::int32_t next = tokens[34];
  const exec::StepOutput a = f.gpu->run(*gpu, std::span(&next, 1), exec::StepOptions{});
  const exec::StepOutput b = f.gpu->run(*fork, std::span(&next, 1), exec::StepOptions{});
  CHECK(a.logits == b.logits);
}

TEST_CASE("GPU forward: cancellation and errors leave the state exactly as before", "[gpu]") {
  Fixture f = open_fixture("tiny-mxfp4", "tiny-mxfp4");
  const auto tokens = long_sequence(f.model->config);
  const std::int64_t total = static_cast<std::int64_t>(tokens.size());
  auto state = f.gpu->new_state({total, 4});
  const std::span<const std::int32_t> head(tokens.data(), 14), rest(tokens.data() + 14, 26);
  f.gpu->run(*state, head, exec::StepOptions{});
  exec::StepOptions all;
  all.all_logits = true;
  auto reference = state->clone();
  const exec::StepOutput want = f.gpu->run(*reference, rest, all);

  // Cancelled after 3 of 7 chunks: 12 ring slots (all 11 of the ring) were overwritten.
  f.gpu->cancel_after_chunks_for_testing(3);
  try {
    f.gpu->run(*state, rest, all);
    FAIL("the run was not cancelled");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCancelled);
  }
  CHECK(state->length() == 14);
  std::atomic<bool> cancel{true};
  exec::StepOptions cancelled = all;
  cancelled.cancel = &cancel;
  CHECK_THROWS_AS(f.gpu->run(*state, rest, cancelled), Error);
  const std::int32_t bad = f.model->config.vocab_size;
  CHECK_THROWS_AS(f.gpu->run(*state, std::span(&bad, 1), all), Error);
  CHECK(state->length() == 14);
  const exec::StepOutput got = f.gpu->run(*state, rest, all);
  CHECK(got.logits == want.logits);
}

}  // namespace
}  // namespace mimo
