// Large prefill chunks on the GPU (exec::StateLimits::prefill_chunk_tokens, issue 20 item 1)
// against the CPU reference, within forward_support.hpp's tolerance (relative L2 2e-5, max-abs
// 2e-4):
// - every fixture: a 300-token prompt in chunks of 64, 100 and 256 (the fixtures' window is 8,
//   so every chunk crosses it and wraps the rings of 8 + chunk - 1 slots): the last row's logits
//   and the hidden taps of every row, then decode steps (replayed graphs) and a verify block
//   (all logits, a graph) that read the rings the big chunks wrote;
// - the random model with MiMo's head shape (128-dim heads, 64-dim RoPE): chunks of 100..300
//   tokens, longer than GpuState::attention_tokens() (the segmented attention's partials), run
//   the prefill attention kernel (cuda::prefill_attention), and their FP8 linears the prefill
//   GEMM (cuda::prefill_linear; so do the fixtures' chunks of 64..256 where FP8);
// - the benchmark geometry (4 layers, 64 experts top-8): a 300-token chunk (2400 slots, ragged
//   expert groups of the router's own choosing) and chunks of 256 + 44 against chunks of 16 on
//   the GPU, and the persistent engine's bits equal to the stream runner's for the 300-token
//   chunk (its attention handed to the stream runner);
// - a cancellation after 2 chunks of 64 restores the state exactly (the re-run equals a clone's
//   run bit for bit).
#include <string>
#include <vector>

#include "cpu/random_model.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/runtime/gpu_state.hpp"
#include "cuda/stream/gpu_executor.hpp"
#include "exec/cpu_executor.hpp"
#include "forward_support.hpp"
#include "mimo/error.hpp"
#include "model/benchmark_config.hpp"
#include "support/catch.hpp"
#include "support/step_helpers.hpp"

namespace mimo {
namespace {

using gpu_forward::check_close;
using testing::same_bits;
using testing::tokens_for;

constexpr int kVerifyBlock = 16;
constexpr int kPrompt = 300;

// The prompt with taps of every layer (last row's logits), 4 decode steps, a verify block of 5
// tokens: on `gpu` with prompts in chunks of `chunk`, on the CPU in chunks of 16.
void check_conversation(const exec::CpuExecutor& cpu, cuda::GpuExecutor& gpu,
                        const model::ModelConfig& config, int chunk, const std::string& what) {
  INFO(what << ", prefill chunks of " << chunk << " on " << gpu.device_name());
  const std::int64_t context = kPrompt + 32;
  const auto gpu_state = gpu.new_state({context, kVerifyBlock, chunk});
  const auto cpu_state = cpu.new_state({context, kVerifyBlock});
  REQUIRE(gpu_state->max_chunk_tokens() == chunk);
  const auto prompt = tokens_for(kPrompt, config.vocab_size, 5);
  exec::StepOptions prefill;
  for (int l = 0; l < config.num_layers; ++l) prefill.hidden_taps.push_back(l);
  const exec::StepOutput got = gpu.run(*gpu_state, prompt, prefill);
  CHECK_FALSE(gpu.last_step().graph);  // longer than a verify block: direct launches
  const exec::StepOutput want = cpu.run(*cpu_state, prompt, prefill);
  check_close(got.logits, want.logits, what + ": the prompt's last logits");
  check_close(got.hidden, want.hidden, what + ": the prompt's hidden taps, every row");
  for (int i = 0; i < 4; ++i) {
    const std::int32_t token = (i * 13 + 5) % config.vocab_size;
    const exec::StepOutput g = gpu.run(*gpu_state, std::span(&token, 1), exec::StepOptions{});
    CHECK(gpu.last_step().graph);
    const exec::StepOutput c = cpu.run(*cpu_state, std::span(&token, 1), exec::StepOptions{});
    check_close(g.logits, c.logits, what + ": decode step " + std::to_string(i));
  }
  exec::StepOptions all;
  all.all_logits = true;
  const auto block = tokens_for(5, config.vocab_size, 6);
  const exec::StepOutput g = gpu.run(*gpu_state, block, all);
  CHECK(gpu.last_step().graph);
  check_close(g.logits, cpu.run(*cpu_state, block, all).logits, what + ": verify block of 5");
  CHECK(gpu_state->length() == cpu_state->length());
}

TEST_CASE("GPU prefill chunks of 64..256 across the sliding window match the CPU", "[gpu]") {
  for (const char* name : {"tiny-bf16", "tiny-fp8", "tiny-mxfp4", "tiny-hub-fused"}) {
    auto m = testing::load_fixture(testing::fixture_dir(name));
    exec::CpuExecutor cpu(m->config, m->weights, 2);
    cuda::GpuExecutor gpu(m->config, cuda::upload_model(m->config, m->weights));
    REQUIRE(m->config.sliding_window == 8);
    for (int chunk : {64, 100, 256}) check_conversation(cpu, gpu, m->config, chunk, name);
  }
}

TEST_CASE("GPU prefill chunks: 128-dim heads on the prefill attention kernel match the CPU",
          "[gpu]") {
  auto m = cpu::testing::make_random_model(11, 128, 64);
  exec::CpuExecutor cpu(m->config, m->weights, 2);
  cuda::GpuExecutor gpu(m->config, cuda::upload_model(m->config, m->weights));
  {
    const cuda::GpuState state(m->config, {kPrompt + 32, kVerifyBlock, 256});
    INFO("segmented attention up to " << state.attention_tokens() << " tokens");
    CHECK(state.attention_tokens() < 100);       // every chunk below: the prefill kernel
    CHECK(state.attention_key_segments(0) > 1);  // decode / verify: keys in segments
    // Every chunk below runs its FP8 linears on the prefill GEMM; verify blocks do not.
    CHECK(state.prefill_gemm(100));
    CHECK_FALSE(state.prefill_gemm(kVerifyBlock));
  }
  for (int chunk : {100, 256, 300}) check_conversation(cpu, gpu, m->config, chunk, "128-dim heads");
}

TEST_CASE("GPU prefill chunks: the benchmark geometry, one 300-token chunk vs chunks of 16",
          "[gpu]") {
  const model::ModelConfig config = model::benchmark_config(4, 64);
  cuda::GpuExecutor gpu(config, cuda::synthetic_model(config, 21));
  const auto prompt = tokens_for(kPrompt, config.vocab_size, 7);
  exec::StepOptions options;
  options.hidden_taps = {0, 1, 2, 3};
  const auto run = [&](int chunk, bool engine) {
    gpu.set_engine(engine);
    const auto state = gpu.new_state({kPrompt + 16, kVerifyBlock, chunk});
    exec::StepOutput out = gpu.run(*state, prompt, options);
    const std::int32_t next = 1;
    exec::StepOutput after = gpu.run(*state, std::span(&next, 1), exec::StepOptions{});
    out.logits.insert(out.logits.end(), after.logits.begin(), after.logits.end());
    gpu.set_engine(false);
    return out;
  };
  const exec::StepOutput small = run(kVerifyBlock, false);
  const exec::StepOutput big = run(kPrompt, false);
  check_close(big.logits, small.logits, "last logits and the next decode step's");
  check_close(big.hidden, small.hidden, "hidden taps of every row");
  // 256 + 44 tokens: the second chunk's prefill attention starts mid-context, its window
  // reaching back into the first chunk's keys.
  const exec::StepOutput two = run(256, false);
  check_close(two.logits, small.logits, "chunks of 256: last logits and the next decode step's");
  check_close(two.hidden, small.hidden, "chunks of 256: hidden taps of every row");
  const exec::StepOutput engine = run(kPrompt, true);
  CHECK(same_bits(engine.logits, big.logits));
  CHECK(same_bits(engine.hidden, big.hidden));
}

TEST_CASE("GPU prefill chunks: a cancellation between big chunks leaves the state as before",
          "[gpu]") {
  auto m = testing::load_fixture(testing::fixture_dir("tiny-mxfp4"));
  cuda::GpuExecutor gpu(m->config, cuda::upload_model(m->config, m->weights));
  const auto state = gpu.new_state({kPrompt + 64, kVerifyBlock, 64});  // rings of 71 slots
  const auto head = tokens_for(40, m->config.vocab_size, 8);
  const auto rest = tokens_for(kPrompt - 40, m->config.vocab_size, 9);
  gpu.run(*state, head, exec::StepOptions{});
  const auto reference = state->clone();
  const exec::StepOutput want = gpu.run(*reference, rest, exec::StepOptions{});
  // After 2 of 5 chunks: 128 positions written, every ring slot overwritten.
  gpu.cancel_after_chunks_for_testing(2);
  try {
    gpu.run(*state, rest, exec::StepOptions{});
    FAIL("the run was not cancelled");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kCancelled);
  }
  CHECK(state->length() == 40);
  const exec::StepOutput got = gpu.run(*state, rest, exec::StepOptions{});
  CHECK(same_bits(got.logits, want.logits));
}

}  // namespace
}  // namespace mimo
