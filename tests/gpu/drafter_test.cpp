// The DFlash drafter on the GPU (cuda::GpuDrafter behind make_dflash_speculator for a GPU model):
// fed the same target features, its block hidden states match the CPU drafter's and its
// proposals equal the CPU drafter's at every step (tiny fixture and the demo model), and so do
// its logits rows when a sampled run draws drafts from them; its proposals reproduce transformers'
// candidates (tests/data/dflash/candidates.json); greedy speculative decoding with it equals plain
// greedy on the GPU. The one-kernel block pass against the op-by-op one: drafter_fused_test.cpp.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cuda/stream/gpu_dflash_speculator.hpp"
#include "cuda/stream/gpu_drafter.hpp"
#include "io/safetensors.hpp"
#include "io/safetensors_writer.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/speculator.hpp"
#include "mimo/tokenizer.hpp"
#include "quant/array_convert.hpp"
#include "spec/dflash_speculator.hpp"
#include "spec/lookup_first_speculator.hpp"
#include "spec_support.hpp"
#include "support/catch.hpp"

namespace {

using namespace mimo::testing::spec_tests;

// Drives the GPU speculator and feeds the CPU drafter the same features; at every step compares
// the block hidden states and the proposals. Returns the GPU's proposals.
class Tee final : public mimo::Speculator {
 public:
  Tee(std::shared_ptr<mimo::Speculator> gpu, std::shared_ptr<mimo::Speculator> cpu)
      : gpu_(std::move(gpu)), cpu_(std::move(cpu)) {}
  std::string name() const override { return "tee"; }
  int max_draft() const override { return gpu_->max_draft(); }
  std::vector<int> feature_layers() const override { return gpu_->feature_layers(); }
  void observe(std::int64_t first, const float* f, std::int64_t rows) override {
    gpu_->observe(first, f, rows);
    cpu_->observe(first, f, rows);
  }
  void truncate(std::int64_t length) override {
    gpu_->truncate(length);
    cpu_->truncate(length);
  }
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                    int max_draft) override {
    auto* g = dynamic_cast<mimo::cuda::GpuDFlashSpeculator*>(gpu_.get());
    auto* c = dynamic_cast<mimo::spec::DFlashSpeculator*>(cpu_.get());
    REQUIRE(g != nullptr);
    REQUIRE(c != nullptr);
    const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
    const auto gh = g->drafter().block_hidden(context.back(), anchor_position);
    const auto ch = c->drafter().block_hidden(context.back(), anchor_position);
    REQUIRE(gh.size() == ch.size());
    for (std::size_t i = 0; i < gh.size(); ++i) {
      const double err = std::fabs(gh[i] - ch[i]) / (1e-3 + 1e-3 * std::fabs(ch[i]));
      if (err > worst_hidden) worst_hidden = err;
    }
    auto gpu_drafts = gpu_->propose(context, max_draft);
    auto cpu_drafts = cpu_->propose(context, max_draft);
    ++steps;
    compared += static_cast<int>(cpu_drafts.size());
    if (gpu_drafts != cpu_drafts) ++mismatched_steps;
    return gpu_drafts;
  }
  // Sampled runs: both drafters' lm_head rows for the block; the GPU's row argmaxes are its
  // proposals. Returns the GPU's rows.
  int draft_logits(const std::vector<std::int32_t>& context, int max_draft, std::int32_t vocab,
                   std::vector<float>& logits) override {
    std::vector<float> cpu_logits;
    const int rows = gpu_->draft_logits(context, max_draft, vocab, logits);
    REQUIRE(cpu_->draft_logits(context, max_draft, vocab, cpu_logits) == rows);
    REQUIRE(logits.size() == cpu_logits.size());
    REQUIRE(logits.size() == std::size_t(rows) * vocab);
    for (std::size_t i = 0; i < logits.size(); ++i) {
      const double err =
          std::fabs(logits[i] - cpu_logits[i]) / (1e-2 + 1e-2 * std::fabs(cpu_logits[i]));
      if (err > worst_logit) worst_logit = err;
    }
    const auto drafts = gpu_->propose(context, max_draft);
    REQUIRE(drafts.size() == std::size_t(rows));
    for (int r = 0; r < rows; ++r) {
      const float* row = logits.data() + std::size_t(r) * vocab;
      if (std::max_element(row, row + vocab) - row != drafts[r]) ++argmax_mismatches;
    }
    ++sampled_steps;
    return rows;
  }
  int steps = 0, compared = 0, mismatched_steps = 0;
  double worst_hidden = 0;  // max |gpu - cpu| / (1e-3 + 1e-3 |cpu|): <= 1 passes
  int sampled_steps = 0, argmax_mismatches = 0;
  double worst_logit = 0;  // max |gpu - cpu| / (1e-2 + 1e-2 |cpu|) of draft logits: <= 1 passes

 private:
  std::shared_ptr<mimo::Speculator> gpu_, cpu_;
};

// fused: the block pass as one kernel where the drafter allows it (else op by op either way).
void check_against_cpu(const std::string& model_dir, const std::string& drafter_dir,
                       const std::vector<std::int32_t>& prompt, int n, bool graph = true,
                       bool expect_acceptance = true, bool fused = true) {
  const auto gpu = load(model_dir, mimo::Device::kCuda);
  const auto cpu = load(model_dir, mimo::Device::kCpu);
  auto gpu_spec = mimo::make_dflash_speculator(*gpu, drafter_dir);
  auto* gpu_dflash = dynamic_cast<mimo::cuda::GpuDFlashSpeculator*>(gpu_spec.get());
  REQUIRE(gpu_dflash != nullptr);
  gpu_dflash->drafter().set_use_graph(graph);
  INFO("drafter graph " << graph << ", one-kernel block pass "
                        << gpu_dflash->drafter().set_fused_block(fused) << " ("
                        << gpu_dflash->drafter().fused_block_unsupported() << ")");
  auto tee = std::make_shared<Tee>(gpu_spec, mimo::make_dflash_speculator(*cpu, drafter_dir));
  const auto plain = greedy(*gpu, prompt, n);
  mimo::SessionStats stats;
  CHECK(greedy(*gpu, prompt, n, tee, &stats) == plain);
  INFO("steps " << tee->steps << ", drafts compared " << tee->compared << ", worst hidden "
                << tee->worst_hidden << ", mean acceptance "
                << stats.speculation.mean_acceptance_length());
  CHECK(tee->steps >= 10);
  CHECK(tee->worst_hidden <= 1.0);
  CHECK(tee->mismatched_steps == 0);
  if (expect_acceptance) CHECK(stats.speculation.accepted_tokens > 0);

  // Sampled: the drafts are drawn from the GPU drafter's rows (draft_logits), which match the
  // CPU drafter's and argmax to its proposals.
  mimo::SamplerConfig config;
  config.temperature = 0.7f;
  config.seed = 7;
  mimo::SessionStats sampled;
  CHECK(generate(*gpu, prompt, n, config, tee, &sampled).size() == std::size_t(n));
  INFO("sampled steps " << tee->sampled_steps << ", worst logit " << tee->worst_logit
                        << ", sampled acceptance " << sampled.speculation.mean_acceptance_length());
  CHECK(tee->sampled_steps >= 10);
  CHECK(tee->worst_logit <= 1.0);
  CHECK(tee->argmax_mismatches == 0);
}

TEST_CASE("GPU DFlash drafter is chosen for a GPU model and matches the CPU drafter",
          "[gpu][spec][drafter]") {
  const auto gpu = load(data("models/tiny-bf16"), mimo::Device::kCuda);
  auto spec = mimo::make_dflash_speculator(*gpu, data("dflash/drafter"));
  auto* gpu_spec = dynamic_cast<mimo::cuda::GpuDFlashSpeculator*>(spec.get());
  REQUIRE(gpu_spec != nullptr);
  CHECK(gpu_spec->drafter().stacks_projections());  // BF16 q / k / v and gate / up
  INFO("one-kernel block pass: " << gpu_spec->drafter().fused_block_unsupported());
  // Its o_proj has 96 columns (4 heads of 24): not a shape the fused tiles take (multiples of
  // 64), so "fused" runs below take the op-by-op pass; the demo drafters below cover the kernel.
  CHECK_FALSE(gpu_spec->drafter().set_fused_block(true));
  CHECK_FALSE(gpu_spec->drafter().fused_block_unsupported().empty());
  const auto prompt = read_ids(data("models/tiny-bf16/reference/greedy_prompt.txt"));
  check_against_cpu(data("models/tiny-bf16"), data("dflash/drafter"), prompt, 200, true);
  check_against_cpu(data("models/tiny-bf16"), data("dflash/drafter"), prompt, 200, false);
  check_against_cpu(data("models/tiny-bf16"), data("dflash/drafter"), prompt, 200, true, true,
                    false);
}

TEST_CASE("GPU DFlash drafter matches the CPU drafter on the demo model", "[gpu][spec][drafter]") {
  const auto tokenizer = mimo::Tokenizer::from_model_dir(demo("mixed"));
  const auto prompt = tokenizer.encode(
      "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n");
  REQUIRE(prompt.size() > 5);
  check_against_cpu(demo("mixed"), demo("drafter"), prompt, 256);
  check_against_cpu(demo("mixed"), demo("drafter"), prompt, 128, true, true, false);
}

// A sampled run of `n` tokens with a fresh GPU DFlash speculator (the most drafts each step);
// lookup_first: wrapped in a lookup-first speculator whose clock advances 1 ms a reading, so
// its choices depend only on what the steps kept (the same in two runs of the same tokens).
struct SampledRun {
  std::vector<std::int32_t> tokens;
  std::int64_t device_draws = 0, drafted = 0, accepted = 0;
  std::vector<std::int64_t> steps_by_source;  // lookup_first
  std::int64_t lookups = 0;                   // lookup_first: steps of any lookup
};

SampledRun run_sampled(const mimo::Model& model, const std::vector<std::int32_t>& prompt,
                       const mimo::SamplerConfig& config, int n,
                       const mimo::DFlashOptions& dflash = {}, bool lookup_first = false) {
  std::shared_ptr<mimo::Speculator> spec =
      mimo::make_dflash_speculator(model, demo("drafter"), dflash);
  auto* gpu_spec = dynamic_cast<mimo::cuda::GpuDFlashSpeculator*>(spec.get());
  REQUIRE(gpu_spec != nullptr);
  std::shared_ptr<mimo::spec::LookupFirstSpeculator> wrapper;
  if (lookup_first) {
    auto ticks = std::make_shared<double>(0.0);
    wrapper = std::make_shared<mimo::spec::LookupFirstSpeculator>(
        spec, 3, 0, [ticks] { return *ticks += 1e-3; });
    spec = wrapper;
  }
  SampledRun run;
  mimo::SessionStats stats;
  run.tokens = generate(model, prompt, n, config, spec, &stats);
  if (wrapper) {
    const auto& steps = wrapper->steps_by_source();
    run.steps_by_source.assign(steps.begin(), steps.end());
    for (int m = 1; m <= 3; ++m) run.lookups += wrapper->lookup_steps(m);
  }
  run.device_draws = gpu_spec->device_draws();
  run.drafted = stats.speculation.drafted_tokens;
  run.accepted = stats.speculation.accepted_tokens;
  return run;
}

TEST_CASE("GPU DFlash draws sampled drafts on the device as the host draws them",
          "[gpu][spec][drafter][sampling]") {
  // Sampling on the device: drafts drawn there from the drafter's rows and verified there
  // against them. On the host: the same rows downloaded, drawn and verified by the host's rule.
  // The same generator values give the same tokens.
  const auto tokenizer = mimo::Tokenizer::from_model_dir(demo("mixed"));
  const auto prompt = tokenizer.encode("class Stack:\n    def __init__(self):\n");
  const auto device_model = load(demo("mixed"), mimo::Device::kCuda);
  const auto host_model = load(demo("mixed"), mimo::Device::kCuda, false);
  for (float top_p : {1.0f, 0.9f}) {
    mimo::SamplerConfig config;
    config.temperature = 0.7f;
    config.top_p = top_p;
    config.seed = 11;
    INFO("top_p " << top_p);
    const SampledRun device = run_sampled(*device_model, prompt, config, 160);
    const SampledRun host = run_sampled(*host_model, prompt, config, 160);
    INFO("device draws " << device.device_draws << ", accepted drafts " << device.accepted << " / "
                         << host.accepted);
    CHECK(device.tokens.size() == 160);
    CHECK(device.tokens == host.tokens);
    CHECK(device.device_draws > 0);
    CHECK(host.device_draws == 0);
    CHECK(device.accepted == host.accepted);
    CHECK(device.accepted > 0);
  }
  // With a repetition penalty the drafts cannot be drawn on the device: the session proposes
  // the drafter's argmax, decided on the device by the one-hot rule.
  mimo::SamplerConfig penalised;
  penalised.temperature = 0.7f;
  penalised.repetition_penalty = 1.1f;
  penalised.seed = 5;
  const SampledRun with_penalty = run_sampled(*device_model, prompt, penalised, 96);
  CHECK(with_penalty.tokens.size() == 96);
  CHECK(with_penalty.device_draws == 0);
  CHECK(with_penalty.drafted > 0);
  // DFlashOptions::sample_drafts off: argmax drafts, nothing drawn.
  mimo::DFlashOptions argmax;
  argmax.sample_drafts = false;
  penalised.repetition_penalty = 1.0f;
  const SampledRun argmax_run = run_sampled(*device_model, prompt, penalised, 96, argmax);
  CHECK(argmax_run.tokens.size() == 96);
  CHECK(argmax_run.device_draws == 0);
  CHECK(argmax_run.drafted > 0);
}

TEST_CASE("GPU lookup-first DFlash: greedy equals plain, sampled on the device as on the host",
          "[gpu][spec][drafter][lookup]") {
  const auto tokenizer = mimo::Tokenizer::from_model_dir(demo("mixed"));
  const auto prompt = tokenizer.encode("class Stack:\n    def __init__(self):\n");
  const auto device_model = load(demo("mixed"), mimo::Device::kCuda);
  const int n = 300;
  const auto plain = greedy(*device_model, prompt, n);
  auto lookup_first = std::make_shared<mimo::spec::LookupFirstSpeculator>(
      mimo::make_dflash_speculator(*device_model, demo("drafter")), 3);
  CHECK(greedy(*device_model, prompt, n, lookup_first) == plain);
  const auto steps = lookup_first->steps_by_source();
  INFO(lookup_first->summary());
  CHECK(steps[mimo::spec::LookupFirstSpeculator::kDrafter] > 0);
  CHECK(lookup_first->lookup_steps(1) + lookup_first->lookup_steps(2) +
            lookup_first->lookup_steps(3) >
        0);
  // Sampled: lookup steps decline the device draw (one-hot proposals decided on the device),
  // drafter steps draw there; the host path decides both kinds from downloaded rows.
  const auto host_model = load(demo("mixed"), mimo::Device::kCuda, false);
  mimo::SamplerConfig config;
  config.temperature = 0.7f;
  config.seed = 11;
  const SampledRun device = run_sampled(*device_model, prompt, config, 160, {}, true);
  const SampledRun host = run_sampled(*host_model, prompt, config, 160, {}, true);
  INFO("device draws " << device.device_draws << ", steps by source: drafter "
                       << device.steps_by_source[0] << ", lookups " << device.lookups);
  CHECK(device.tokens.size() == 160);
  CHECK(device.tokens == host.tokens);
  CHECK(device.steps_by_source == host.steps_by_source);
  CHECK(device.device_draws > 0);
  CHECK(device.steps_by_source[0] > 0);
  CHECK(device.lookups > 0);
}

TEST_CASE("GPU DFlash proposals reproduce transformers' candidates", "[gpu][spec][drafter]") {
  const auto gpu = load(data("models/tiny-bf16"), mimo::Device::kCuda);
  const auto prompt = read_ids(data("dflash/prompt.txt"));
  const auto expected_tokens = read_ids(data("dflash/greedy_dflash.txt"));
  std::ifstream in(data("dflash/candidates.json"));
  REQUIRE(in.good());
  const nlohmann::json reference = nlohmann::json::parse(in);
  struct Recorder final : mimo::Speculator {
    std::shared_ptr<mimo::Speculator> inner;
    std::vector<std::vector<std::int32_t>> drafts;
    std::vector<std::int64_t> anchors;
    std::string name() const override { return "recorder"; }
    int max_draft() const override { return inner->max_draft(); }
    std::vector<int> feature_layers() const override { return inner->feature_layers(); }
    void observe(std::int64_t first, const float* f, std::int64_t rows) override {
      inner->observe(first, f, rows);
    }
    void truncate(std::int64_t length) override { inner->truncate(length); }
    std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                      int max_draft) override {
      drafts.push_back(inner->propose(context, max_draft));
      anchors.push_back(static_cast<std::int64_t>(context.size()) - 1);
      return drafts.back();
    }
  };
  auto recorder = std::make_shared<Recorder>();
  recorder->inner = mimo::make_dflash_speculator(*gpu, data("dflash/drafter"));
  CHECK(greedy(*gpu, prompt, static_cast<int>(expected_tokens.size()), recorder) ==
        expected_tokens);
  const auto& steps = reference.at("steps");
  const std::size_t common = std::min(steps.size(), recorder->drafts.size());
  REQUIRE(common + 2 >= steps.size());
  int compared = 0;
  for (std::size_t i = 0; i < common; ++i) {
    INFO("step " << i);
    CHECK(recorder->anchors[i] == steps[i].at("anchor_position").get<std::int64_t>());
    const auto candidates = steps[i].at("candidates").get<std::vector<std::int32_t>>();
    REQUIRE(recorder->drafts[i].size() <= candidates.size());
    for (std::size_t k = 0; k < recorder->drafts[i].size(); ++k, ++compared) {
      CHECK(recorder->drafts[i][k] == candidates[k]);
    }
  }
  CHECK(compared >= 3 * static_cast<int>(common) - 6);
}

TEST_CASE("GPU DFlash greedy on the demo model equals plain greedy", "[gpu][spec][drafter]") {
  const auto gpu = load(demo("mixed"), mimo::Device::kCuda);
  const auto tokenizer = mimo::Tokenizer::from_model_dir(demo("mixed"));
  const auto prompt = tokenizer.encode("import numpy as np\n\n\ndef softmax(x):\n");
  const int n = 400;
  const auto plain = greedy(*gpu, prompt, n);
  REQUIRE(plain.size() == static_cast<std::size_t>(n));
  mimo::SessionStats stats;
  CHECK(greedy(*gpu, prompt, n, mimo::make_dflash_speculator(*gpu, demo("drafter")), &stats) ==
        plain);
  INFO("mean acceptance " << stats.speculation.mean_acceptance_length());
  CHECK(stats.speculation.mean_acceptance_length() > 1.5);
}

}  // namespace

TEST_CASE("GPU DFlash drafter applies a mask-embedding sidecar as the CPU drafter does",
          "[gpu][spec][drafter]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mimo_gpu_mask_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* file : {"model.safetensors", "config.json"}) {
    fs::copy_file(data(std::string("dflash/drafter/") + file), dir / file,
                  fs::copy_options::overwrite_existing);
  }
  std::vector<float> mask(64);
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = std::sin(0.37 * i + 0.1);
  mimo::io::SafetensorsWriter writer;
  writer.add("mask_embedding", mimo::io::DType::kF32, {64},
             std::as_bytes(std::span<const float>(mask)));
  writer.write((dir / "mask_embedding.safetensors").string());
  const auto prompt = read_ids(data("models/tiny-bf16/reference/greedy_prompt.txt"));
  // An arbitrary mask input: the drafts are poor (none may be accepted), but GPU and CPU must
  // agree on every block.
  check_against_cpu(data("models/tiny-bf16"), dir.string(), prompt, 120, true, false);
  fs::remove_all(dir);
}

// The GPU drafter stacks q / k / v and gate / up into one product each where their formats
// allow (BF16 or F32 alike). A drafter with q_proj and gate_proj in F32 beside BF16 k, v and up
// takes the separate products instead; both must still agree with the CPU drafter.
TEST_CASE("GPU DFlash drafter with projections that do not stack matches the CPU drafter",
          "[gpu][spec][drafter]") {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("mimo_gpu_unstacked_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(data("dflash/drafter/config.json"), dir / "config.json",
                fs::copy_options::overwrite_existing);
  int widened = 0;
  {
    const auto file = mimo::io::SafetensorsFile::open(data("dflash/drafter/model.safetensors"));
    mimo::io::SafetensorsWriter writer;
    for (const auto& [name, t] : file->tensors()) {
      const bool widen =
          t.dtype == mimo::io::DType::kBF16 &&
          (name.find("q_proj") != std::string::npos || name.find("gate_proj") != std::string::npos);
      if (!widen) {
        writer.add(name, t.dtype, t.shape, std::span<const std::byte>(t.data, t.nbytes));
        continue;
      }
      std::vector<float> values(static_cast<std::size_t>(t.numel()));
      mimo::quant::bf16_to_float_array(t.as<std::uint16_t>(), values.data(), values.size());
      writer.add(name, mimo::io::DType::kF32, t.shape,
                 std::as_bytes(std::span<const float>(values)));
      ++widened;
    }
    writer.write((dir / "model.safetensors").string());
  }
  REQUIRE(widened >= 2);  // every layer's q_proj and gate_proj
  {
    const auto gpu = load(data("models/tiny-bf16"), mimo::Device::kCuda);
    auto spec = mimo::make_dflash_speculator(*gpu, dir.string());
    auto* g = dynamic_cast<mimo::cuda::GpuDFlashSpeculator*>(spec.get());
    REQUIRE(g != nullptr);
    CHECK_FALSE(g->drafter().stacks_projections());
  }
  const auto prompt = read_ids(data("models/tiny-bf16/reference/greedy_prompt.txt"));
  check_against_cpu(data("models/tiny-bf16"), dir.string(), prompt, 200, true);
  fs::remove_all(dir);
}
