// The GPU drafter's block pass as one cluster kernel (cuda/kernels/drafter_block.hpp) against the
// op-by-op pass, bit for bit: the demo drafter through a greedy run (and a variant with sliding
// layers and attention sinks), and the context fold against the context pass.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "cuda/runtime/device_memory.hpp"
#include "cuda/stream/gpu_dflash_speculator.hpp"
#include "cuda/stream/gpu_drafter.hpp"
#include "exec/device_taps.hpp"
#include "io/safetensors.hpp"
#include "io/safetensors_writer.hpp"
#include "mimo/tokenizer.hpp"
#include "spec_support.hpp"

namespace {

using namespace mimo::testing::spec_tests;

// Drives a GPU DFlash speculator and at every step runs the block pass both ways - one cluster
// kernel and one kernel an op - comparing the final-normed hidden states and the lm_head rows
// bit for bit (the fused kernel runs the same tiles with the same team sizes). It takes the
// target's taps on the device as the speculator does, so the steps where the fused pass runs
// first fold the deferred context rows in, as in a real run.
class FusedTee final : public mimo::Speculator, public mimo::exec::DeviceTapsReader {
 public:
  explicit FusedTee(std::shared_ptr<mimo::Speculator> gpu)
      : gpu_(std::move(gpu)), reader_(dynamic_cast<mimo::cuda::GpuDFlashSpeculator&>(*gpu_)) {}
  bool accepts_device_taps() const override { return reader_.accepts_device_taps(); }
  void observe_device(std::int64_t first, const mimo::exec::DeviceTaps& taps,
                      std::int64_t rows) override {
    reader_.observe_device(first, taps, rows);
  }
  std::string name() const override { return "fused-tee"; }
  int max_draft() const override { return gpu_->max_draft(); }
  std::vector<int> feature_layers() const override { return gpu_->feature_layers(); }
  void observe(std::int64_t first, const float* f, std::int64_t rows) override {
    gpu_->observe(first, f, rows);
  }
  void truncate(std::int64_t length) override { gpu_->truncate(length); }
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                    int max_draft) override {
    auto& d = dynamic_cast<mimo::cuda::GpuDFlashSpeculator&>(*gpu_).drafter();
    const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
    std::vector<float> hidden[2];
    std::vector<std::int32_t> drafts[2];
    // Both passes write the same buffers: alternate which runs first, so a row the fused pass
    // fails to write cannot keep the op-by-op pass's bits unnoticed.
    for (int k = 0; k < 2; ++k) {
      const int fused = (steps + k) % 2;
      REQUIRE(d.set_fused_block(fused == 1) == (fused == 1));
      hidden[fused] = d.block_hidden(context.back(), anchor_position);
      drafts[fused] = d.propose(context.back(), anchor_position, d.block_size() - 1);
    }
    ++steps;
    if (hidden[0] != hidden[1]) {
      ++hidden_mismatches;
      for (std::size_t i = 0; i < hidden[0].size(); ++i)
        worst = std::max(worst, static_cast<double>(std::fabs(hidden[0][i] - hidden[1][i])));
    }
    if (drafts[0] != drafts[1]) ++draft_mismatches;
    return gpu_->propose(context, max_draft);
  }
  int steps = 0, hidden_mismatches = 0, draft_mismatches = 0;
  double worst = 0;

 private:
  std::shared_ptr<mimo::Speculator> gpu_;
  mimo::cuda::GpuDFlashSpeculator& reader_;
};

// Deferred device context rows: the one-kernel pass folds up to a block of them into its own
// phases (more wait for the context pass). Fed the same random feature rows (a prompt's worth,
// then steps of 1 .. 8 rows, one step of 12, a rollback), its caches and block hidden states
// equal the op-by-op pass's bit for bit.
TEST_CASE("GPU DFlash drafter's context fold equals the context pass bit for bit",
          "[gpu][spec][drafter]") {
  const auto gpu = load(demo("mixed"), mimo::Device::kCuda);
  auto fused_spec = mimo::make_dflash_speculator(*gpu, demo("drafter"));
  auto plain_spec = mimo::make_dflash_speculator(*gpu, demo("drafter"));
  auto& fused = dynamic_cast<mimo::cuda::GpuDFlashSpeculator&>(*fused_spec).drafter();
  auto& plain = dynamic_cast<mimo::cuda::GpuDFlashSpeculator&>(*plain_spec).drafter();
  INFO("fold: " << fused.fused_context_unsupported());
  REQUIRE(fused.set_fused_block(true));
  REQUIRE(fused.fused_context());
  REQUIRE_FALSE(plain.set_fused_block(false));
  const int width = static_cast<int>(fused_spec->feature_layers().size()) * 256;  // demo hidden
  std::vector<float> rows(static_cast<std::size_t>(64) * width);
  std::uint32_t state = 12345;
  for (float& v : rows) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<std::int32_t>(state >> 8) % 2001 - 1000) / 250.0f;
  }
  const mimo::cuda::DeviceBuffer features = mimo::cuda::to_device(rows);
  std::int64_t next = 0;
  int steps = 0, mismatches = 0;
  const auto feed = [&](int n, int offset) {
    const float* src = features.as<float>() + static_cast<std::size_t>(offset) * width;
    fused.add_device_context(next, src, n, nullptr, nullptr);
    plain.add_device_context(next, src, n, nullptr, nullptr);
    next += n;
  };
  const auto block = [&](std::int32_t anchor) {
    const auto a = fused.block_hidden(anchor, next);
    const auto b = plain.block_hidden(anchor, next);
    ++steps;
    if (a != b) ++mismatches;
  };
  feed(40, 0);  // more than a block: the context pass, both ways
  block(17);
  const int counts[] = {1, 3, 8, 2, 12, 5, 8, 4};
  int offset = 40;
  for (int n : counts) {
    feed(n, offset % 48);
    offset += n;
    block(static_cast<std::int32_t>(100 + n));
  }
  fused.truncate(next - 3);  // a rollback, then more rows at the rolled-back positions
  plain.truncate(next - 3);
  next -= 3;
  feed(6, 7);
  block(42);
  CHECK(steps == 10);
  CHECK(mismatches == 0);
  for (int l = 0; l < fused.num_layers(); ++l) {
    CHECK(fused.context_keys(l) == plain.context_keys(l));
    CHECK(fused.context_values(l) == plain.context_values(l));
  }
  CHECK(fused.context_rows() == plain.context_rows());
}

// A greedy demo run drafting with `drafter_dir`, the block pass both ways at every step.
void check_fused_equals_op_by_op(const std::string& drafter_dir) {
  const auto gpu = load(demo("mixed"), mimo::Device::kCuda);
  auto spec = mimo::make_dflash_speculator(*gpu, drafter_dir);
  auto& d = dynamic_cast<mimo::cuda::GpuDFlashSpeculator&>(*spec).drafter();
  INFO("one-kernel block pass: " << d.fused_block_unsupported() << ", cluster of "
                                 << d.fused_block_cluster());
  REQUIRE(d.set_fused_block(true));
  CHECK(d.fused_block_cluster() >= 8);
  auto tee = std::make_shared<FusedTee>(spec);
  const auto tokenizer = mimo::Tokenizer::from_model_dir(demo("mixed"));
  const auto prompt = tokenizer.encode("class Stack:\n    def __init__(self):\n");
  const auto plain = greedy(*gpu, prompt, 160);
  CHECK(greedy(*gpu, prompt, 160, tee) == plain);
  INFO("steps " << tee->steps << ", worst hidden difference " << tee->worst);
  CHECK(tee->steps >= 20);
  CHECK(tee->hidden_mismatches == 0);
  CHECK(tee->draft_mismatches == 0);
  CHECK(d.folded_rows() > 0);  // the fused-first steps folded the verify steps' rows in
}

TEST_CASE("GPU DFlash drafter's one-kernel block pass equals the op-by-op pass bit for bit",
          "[gpu][spec][drafter]") {
  check_fused_equals_op_by_op(demo("drafter"));
}

// The demo drafter with sliding layers of `window` and attention sinks: the fused kernel's window
// and sink paths against the op-by-op kernels'.
void check_sliding_with_sinks(int window) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() /
      ("mimo_gpu_sliding_sinks_" + std::to_string(::getpid()) + "_" + std::to_string(window));
  fs::create_directories(dir);
  nlohmann::json config;
  {
    std::ifstream in(demo("drafter/config.json"));
    in >> config;
  }
  const int layers = config["num_hidden_layers"].get<int>();
  const int heads = config["num_attention_heads"].get<int>();
  config["layer_types"] = nlohmann::json::array();
  for (int l = 0; l < layers; ++l)
    config["layer_types"].push_back(l % 2 == 0 ? "sliding_attention" : "full_attention");
  config["sliding_window"] = window;
  config["attention_sink_bias"] = true;
  std::ofstream(dir / "config.json") << config.dump(2);
  {
    const auto file = mimo::io::SafetensorsFile::open(demo("drafter/model.safetensors"));
    mimo::io::SafetensorsWriter writer;
    for (const auto& [name, t] : file->tensors())
      writer.add(name, t.dtype, t.shape, std::span<const std::byte>(t.data, t.nbytes));
    std::vector<std::vector<float>> sinks(layers);
    for (int l = 0; l < layers; ++l) {
      for (int h = 0; h < heads; ++h) sinks[l].push_back(std::sin(1.3 * l + 0.7 * h) * 2.0f);
      writer.add("layers." + std::to_string(l) + ".self_attn.attention_sink_bias",
                 mimo::io::DType::kF32, {heads}, std::as_bytes(std::span<const float>(sinks[l])));
    }
    writer.write((dir / "model.safetensors").string());
  }
  check_fused_equals_op_by_op(dir.string());
  fs::remove_all(dir);
}

// A window of 24 (shorter than the run: context keys drop out before the queries), and of 3
// (shorter than the block: block keys on both sides of a query drop out too).
TEST_CASE("GPU DFlash drafter's one-kernel block pass with sliding layers and sinks, bit for bit",
          "[gpu][spec][drafter]") {
  check_sliding_with_sinks(24);
  check_sliding_with_sinks(3);
}

}  // namespace
