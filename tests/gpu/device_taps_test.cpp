// Device-resident hidden taps (exec::StepOptions::taps_on_device, docs/speculative.md, "On the
// GPU"): the GpuExecutor's device taps hold exactly the floats its host taps hold (graph and
// direct steps; a step of several chunks falls back to host taps), and DFlash generation on the
// demo model with the taps kept on the device gives the same tokens as the host path (greedy:
// also as plain greedy; a seeded sampled run: the same tokens and statistics) and leaves the
// drafter's context cache bit for bit as the host path does.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/stream/gpu_dflash_speculator.hpp"
#include "forward_support.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "mimo/tokenizer.hpp"
#include "support/catch.hpp"

namespace mimo {
namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The device taps' floats, read after their `ready` event (and releasing them).
std::vector<float> download(const exec::DeviceTaps& taps, std::size_t row_floats) {
  REQUIRE(taps.data != nullptr);
  REQUIRE(cudaEventSynchronize(static_cast<cudaEvent_t>(taps.ready)) == cudaSuccess);
  std::vector<float> out(std::size_t(taps.rows) * row_floats);
  REQUIRE(cudaMemcpy(out.data(), taps.data, out.size() * sizeof(float), cudaMemcpyDeviceToHost) ==
          cudaSuccess);
  return out;
}

TEST_CASE("GPU device taps hold the host taps' floats", "[gpu][spec][taps]") {
  gpu_forward::Fixture f = gpu_forward::open_fixture("tiny-bf16", "tiny-bf16");
  const model::ModelConfig& config = f.model->config;
  const std::size_t row_floats = 2 * std::size_t(config.hidden_size);
  const std::vector<std::int32_t> prompt = {3, 17, 42, 5, 99, 7, 64, 12, 8, 30, 2, 77};
  for (bool graphs : {true, false}) {
    INFO("graphs " << graphs);
    f.gpu->set_use_graphs(graphs);
    exec::StepOptions options;
    options.hidden_taps = {0, config.num_layers - 1};
    auto host_state = f.gpu->new_state({128, 8, 16});
    auto device_state = f.gpu->new_state({128, 8, 16});
    // A prompt of one chunk, then verify-like blocks of every size.
    std::vector<std::vector<std::int32_t>> steps = {prompt};
    for (int n = 1; n <= 8; ++n)
      steps.push_back(std::vector<std::int32_t>(prompt.begin(), prompt.begin() + n));
    for (const auto& tokens : steps) {
      options.all_logits = tokens.size() <= 8;
      options.taps_on_device = false;
      const exec::StepOutput host = f.gpu->run(*host_state, tokens, options);
      options.taps_on_device = true;
      const exec::StepOutput device = f.gpu->run(*device_state, tokens, options);
      CHECK(device.hidden.empty());
      CHECK(device.device_taps.rows == static_cast<std::int64_t>(tokens.size()));
      CHECK(same_bits(download(device.device_taps, row_floats), host.hidden));
      CHECK(same_bits(device.logits, host.logits));
    }
    // Longer than a chunk (16): host taps, whatever was asked.
    std::vector<std::int32_t> long_prompt;
    for (int i = 0; i < 20; ++i) long_prompt.push_back(prompt[i % prompt.size()]);
    options.all_logits = false;
    const exec::StepOutput host = f.gpu->run(*host_state, long_prompt, options);
    const exec::StepOutput device = f.gpu->run(*device_state, long_prompt, options);
    CHECK(device.device_taps.data == nullptr);
    CHECK(same_bits(device.hidden, host.hidden));
  }
}

// MIMO_TEST_DATA_DIR in the environment overrides the build-time path (the GPU machine runs
// binaries built elsewhere).
std::string demo(const std::string& name) {
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  return std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/../../models/demo/" + name;
}

std::shared_ptr<const Model> load_demo(int prefill_chunk_tokens) {
  ModelOptions options;
  options.device = Device::kCuda;
  options.num_threads = 2;
  options.max_context = 1024;
  options.max_step_tokens = 8;
  options.prefill_chunk_tokens = prefill_chunk_tokens;
  return Model::load(demo("mixed"), options);
}

struct Run {
  std::vector<std::int32_t> tokens;
  SessionStats stats;
};

Run generate(const Model& model, const std::vector<std::int32_t>& prompt, int n,
             const SamplerConfig& sampling, std::shared_ptr<Speculator> speculator) {
  auto session = model.new_session();
  Sampler sampler(sampling);
  GenerateOptions options;
  options.draft_length = mimo::GenerateOptions::DraftLength::kMax;  // fixed drafts: comparable runs
  options.max_tokens = n;
  options.ignore_eos = true;
  options.speculator = std::move(speculator);
  Run run;
  run.tokens = session->generate(prompt, sampler, options).tokens;
  run.stats = session->stats();
  return run;
}

std::shared_ptr<Speculator> dflash(const Model& model, bool device_taps, bool graphs = true) {
  auto spec = make_dflash_speculator(model, demo("drafter"));
  auto* gpu = dynamic_cast<cuda::GpuDFlashSpeculator*>(spec.get());
  REQUIRE(gpu != nullptr);
  CHECK(gpu->accepts_device_taps());  // the default
  gpu->set_device_taps(device_taps);
  gpu->drafter().set_use_graph(graphs);
  return spec;
}

void check_same_context(Speculator& a, Speculator& b) {
  auto& da = dynamic_cast<cuda::GpuDFlashSpeculator&>(a).drafter();
  auto& db = dynamic_cast<cuda::GpuDFlashSpeculator&>(b).drafter();
  REQUIRE(da.context_rows() == db.context_rows());
  REQUIRE(da.context_rows() > 0);
  REQUIRE(da.num_layers() > 0);
  for (int l = 0; l < da.num_layers(); ++l) {
    INFO("drafter layer " << l);
    CHECK(same_bits(da.context_keys(l), db.context_keys(l)));
    CHECK(same_bits(da.context_values(l), db.context_values(l)));
  }
}

std::shared_ptr<const Model> load_fixture_model() {
  ModelOptions options;
  options.device = Device::kCuda;
  options.num_threads = 2;
  options.max_context = 256;
  options.max_step_tokens = 8;
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  return Model::load(std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/models/tiny-bf16",
                     options);
}

// The drafter alone: the same feature rows through add_context (host) and add_device_context
// (device memory, no events), with rollbacks in between, leave identical caches and blocks, the
// device rows projected at once or deferred (then also a prompt longer than the deferral buffer,
// and enough steps between reads to fill it).
TEST_CASE("GPU drafter device context updates equal host ones bit for bit", "[gpu][spec][taps]") {
  const auto model = load_fixture_model();
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  const std::string drafter_dir =
      std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/dflash/drafter";
  for (bool defer : {false, true}) {
    for (bool graphs : {true, false}) {
      INFO("deferred context " << defer << ", drafter graphs " << graphs);
      auto host_spec = make_dflash_speculator(*model, drafter_dir);
      auto device_spec = make_dflash_speculator(*model, drafter_dir);
      auto& host = dynamic_cast<cuda::GpuDFlashSpeculator&>(*host_spec).drafter();
      auto& device = dynamic_cast<cuda::GpuDFlashSpeculator&>(*device_spec).drafter();
      host.set_use_graph(graphs);
      device.set_use_graph(graphs);
      device.set_defer_context(defer);
      const std::size_t width = host_spec->feature_layers().size() * model->summary().hidden_size;
      const int block = host.block_size();
      // (first position, rows): a prompt longer than a block (than the 128 deferred rows when
      // deferring), then verify-like updates that overwrite rolled-back rows, reaching cache
      // growths (256, 512 and 1024 rows), with one gap in the positions.
      const std::int64_t prompt = defer ? 140 : 13;
      std::vector<std::pair<std::int64_t, std::int64_t>> updates = {{0, prompt}};
      std::int64_t next = prompt;
      for (int step = 0; next < 600; ++step) {
        if (step == 100) next += 3;  // a gap: deferred rows are projected before the next ones
        const std::int64_t rows = 1 + step % block;
        updates.push_back({next, rows});
        next += rows - (step % 3 == 0 ? 0 : 1);  // a kept correction token is re-run next step
      }
      // Reads between fewer steps than fill the deferral buffer (128 rows), and between more
      // (the cache advances ~1.8 rows a step with blocks of 4); and one host update of the
      // device drafter while device rows wait.
      const std::size_t read_every = defer ? 101 : 7;
      std::vector<float> features(std::size_t(std::max<std::int64_t>(block, prompt)) * width);
      float* d_features = nullptr;
      REQUIRE(cudaMalloc(&d_features, features.size() * sizeof(float)) == cudaSuccess);
      for (std::size_t u = 0; u < updates.size(); ++u) {
        const auto [first, rows] = updates[u];
        for (std::size_t i = 0; i < std::size_t(rows) * width; ++i) {
          features[i] = std::sin(0.01f * static_cast<float>(i + 7 * u)) * 3.0f;
        }
        REQUIRE(cudaMemcpy(d_features, features.data(), std::size_t(rows) * width * sizeof(float),
                           cudaMemcpyHostToDevice) == cudaSuccess);
        host.truncate(first);
        host.add_context(first, features.data(), rows);
        device.truncate(first);
        if (u == 20) {
          device.add_context(first, features.data(), rows);
        } else {
          device.add_device_context(first, d_features, rows, nullptr, nullptr);
        }
        REQUIRE(device.context_rows() == host.context_rows());
        if (u % read_every == 0 || u + 1 == updates.size()) {
          INFO("update " << u);
          for (int l = 0; l < device.num_layers(); ++l) {
            CHECK(same_bits(device.context_keys(l), host.context_keys(l)));
            CHECK(same_bits(device.context_values(l), host.context_values(l)));
          }
          const std::int64_t anchor_position = first + rows;
          CHECK(same_bits(device.block_hidden(5, anchor_position),
                          host.block_hidden(5, anchor_position)));
        }
        // The next update rewrites d_features: the queued copy must be done (the session's
        // executor waits for `released` instead).
        REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
      }
      if (!defer) CHECK(device.context_passes() == static_cast<std::int64_t>(updates.size()));
      cudaFree(d_features);
    }
  }
}

// Deferred device rows are projected in one pass when the buffer (128 rows) fills, and the rest
// when read: 200 one-row updates cost two passes, with the host path's bits.
TEST_CASE("GPU drafter projects deferred context rows when its buffer fills", "[gpu][spec][taps]") {
  const auto model = load_fixture_model();
  const char* env = std::getenv("MIMO_TEST_DATA_DIR");
  const std::string drafter_dir =
      std::string(env != nullptr ? env : MIMO_TEST_DATA_DIR) + "/dflash/drafter";
  auto host_spec = make_dflash_speculator(*model, drafter_dir);
  auto device_spec = make_dflash_speculator(*model, drafter_dir);
  auto& host = dynamic_cast<cuda::GpuDFlashSpeculator&>(*host_spec).drafter();
  auto& device = dynamic_cast<cuda::GpuDFlashSpeculator&>(*device_spec).drafter();
  const std::size_t width = host_spec->feature_layers().size() * model->summary().hidden_size;
  std::vector<float> row(width);
  float* d_row = nullptr;
  REQUIRE(cudaMalloc(&d_row, width * sizeof(float)) == cudaSuccess);
  for (int p = 0; p < 200; ++p) {
    for (std::size_t i = 0; i < width; ++i) row[i] = std::cos(0.013f * (i + 31 * p)) * 2.0f;
    REQUIRE(cudaMemcpy(d_row, row.data(), width * sizeof(float), cudaMemcpyHostToDevice) ==
            cudaSuccess);
    host.add_context(p, row.data(), 1);
    device.add_device_context(p, d_row, 1, nullptr, nullptr);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    if (p == 127) CHECK(device.context_passes() == 0);  // 128 rows wait
    if (p == 128) CHECK(device.context_passes() == 1);  // the 129th projected the 128
  }
  CHECK(device.context_rows() == 200);
  CHECK(device.context_passes() == 1);
  for (int l = 0; l < device.num_layers(); ++l) {
    CHECK(same_bits(device.context_keys(l), host.context_keys(l)));
    CHECK(same_bits(device.context_values(l), host.context_values(l)));
  }
  CHECK(device.context_passes() == 2);  // the read projected the last 72
  CHECK(same_bits(device.block_hidden(3, 200), host.block_hidden(3, 200)));
  cudaFree(d_row);
}

TEST_CASE("GPU DFlash with device taps equals the host path and plain greedy",
          "[gpu][spec][taps]") {
  const auto tokenizer = Tokenizer::from_model_dir(demo("mixed"));
  const auto prompt = tokenizer.encode("import numpy as np\n\n\ndef softmax(x):\n");
  REQUIRE(prompt.size() > 8);
  const int n = 300;
  // 256: the prompt is one chunk (device taps from the prefill on); 8: the prefill runs in
  // chunks and hands host taps, the verify steps device ones.
  for (int prefill_chunk : {256, 8}) {
    INFO("prefill chunk " << prefill_chunk);
    const auto model = load_demo(prefill_chunk);
    const SamplerConfig greedy;
    const Run plain = generate(*model, prompt, n, greedy, nullptr);
    REQUIRE(plain.tokens.size() == static_cast<std::size_t>(n));
    auto host_spec = dflash(*model, false);
    const Run host = generate(*model, prompt, n, greedy, host_spec);
    CHECK(host.tokens == plain.tokens);
    // The device path with the drafter's context graphs (the default), and launched op by op.
    for (bool graphs : {true, false}) {
      INFO("drafter graphs " << graphs);
      auto device_spec = dflash(*model, true, graphs);
      const Run device = generate(*model, prompt, n, greedy, device_spec);
      CHECK(device.tokens == plain.tokens);
      CHECK(device.stats.speculation.accepted_tokens == host.stats.speculation.accepted_tokens);
      CHECK(device.stats.speculation.steps == host.stats.speculation.steps);
      INFO("mean acceptance " << device.stats.speculation.mean_acceptance_length());
      CHECK(device.stats.speculation.mean_acceptance_length() > 1.5);
      check_same_context(*device_spec, *host_spec);
    }

    SamplerConfig sampled;
    sampled.temperature = 0.8f;
    sampled.top_p = 0.95f;
    sampled.seed = 1234;
    const Run device_sampled = generate(*model, prompt, n, sampled, dflash(*model, true));
    const Run host_sampled = generate(*model, prompt, n, sampled, dflash(*model, false));
    CHECK(device_sampled.tokens == host_sampled.tokens);
    CHECK(device_sampled.stats.speculation.accepted_tokens ==
          host_sampled.stats.speculation.accepted_tokens);
  }
}

}  // namespace
}  // namespace mimo
