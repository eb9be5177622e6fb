// The DFlash drafter's passes as drafter programs (lib/spec/dflash_drafter.cpp over
// exec::CpuDrafterRunner) give bit for bit what the imperative drafter they replaced gave
// (imperative_drafter.cpp): the block's hidden states, the draft logits of every row count and
// the drafts, through context appends, rollbacks and anchors below cached rows - for the tiny
// fixture drafter, with a sliding window that binds, with a mask-embedding override, and for the
// demo drafter over the mixed-precision demo model.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "api/model_impl.hpp"
#include "imperative_drafter.hpp"
#include "io/safetensors_writer.hpp"
#include "spec/dflash_speculator.hpp"
#include "spec_test_support.hpp"

namespace {

namespace fs = std::filesystem;
using mimo::spec::DFlashDrafter;
using mimo::spec::testing::ImperativeDrafter;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// A copy of a drafter directory with config.json edited by `edit` and, when `mask` is not
// empty, a mask-embedding sidecar.
struct DrafterCopy {
  DrafterCopy(const std::string& from, const std::string& tag,
              const std::function<void(nlohmann::json&)>& edit, const std::vector<float>& mask) {
    dir = fs::temp_directory_path() /
          fs::path("mimo_drafter_program_" + tag + "_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(fs::path(from) / "model.safetensors", dir / "model.safetensors",
                  fs::copy_options::overwrite_existing);
    std::ifstream in(fs::path(from) / "config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    edit(config);
    std::ofstream(dir / "config.json") << config.dump(1);
    if (!mask.empty()) {
      mimo::io::SafetensorsWriter writer;
      writer.add("mask_embedding", mimo::io::DType::kF32, {static_cast<std::int64_t>(mask.size())},
                 std::as_bytes(std::span<const float>(mask)));
      writer.write((dir / "mask_embedding.safetensors").string());
    }
  }
  ~DrafterCopy() { fs::remove_all(dir); }
  fs::path dir;
};

// Target features of `tokens` at the drafter's feature layers, through the executor's taps.
std::vector<float> features(const mimo::Model& model, const std::vector<int>& layers,
                            const std::vector<std::int32_t>& tokens) {
  const mimo::Model::Impl& m = model.impl();
  auto state = m.executor->new_state({256, 16});
  mimo::exec::StepOptions options;
  options.hidden_taps = layers;
  return m.executor->run(*state, tokens, options).hidden;
}

// The program drafter and the imperative one fed the same session-like history, compared at
// every step.
void check_identity(const mimo::Model& model, const std::string& drafter_dir) {
  auto speculator = mimo::make_dflash_speculator(model, drafter_dir);
  auto& dflash = dynamic_cast<mimo::spec::DFlashSpeculator&>(*speculator);
  const mimo::Model::Impl& m = model.impl();
  const int block = dflash.max_draft() + 1;
  mimo::cpu::ThreadPool pool(2);
  DFlashDrafter program(dflash.config(), dflash.weights(), m.config, m.weights, block, pool);
  ImperativeDrafter imperative(dflash.config(), dflash.weights(), m.config, m.weights, block, pool);

  const int vocab = m.config.vocab_size;
  std::vector<std::int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back((i * 37 + 11) % vocab);
  const std::vector<float> f = features(model, dflash.feature_layers(), tokens);
  const std::size_t row = f.size() / tokens.size();
  const auto add = [&](std::int64_t first, std::int64_t rows) {
    program.add_context(first, f.data() + first * row, rows);
    imperative.add_context(first, f.data() + first * row, rows);
    REQUIRE(program.context_rows() == imperative.context_rows());
  };
  const auto compare = [&](std::int64_t anchor_position) {
    INFO("anchor position " << anchor_position << ", " << program.context_rows()
                            << " context rows");
    const std::int32_t anchor = tokens[anchor_position];
    CHECK(same_bits(program.block_hidden(anchor, anchor_position),
                    imperative.block_hidden(anchor, anchor_position)));
    for (int count = 0; count <= block; ++count) {
      INFO(count << " draft rows");
      CHECK(same_bits(program.logits(anchor, anchor_position, count),
                      imperative.logits(anchor, anchor_position, count)));
      CHECK(program.propose(anchor, anchor_position, count) ==
            imperative.propose(anchor, anchor_position, count));
    }
  };
  compare(0);  // no context yet
  add(0, 12);  // a prompt
  compare(12);
  compare(7);  // rows at and above the anchor ignored
  add(12, 1);  // an accepted token at a time
  add(13, 3);
  compare(16);
  program.truncate(14);  // a rejected tail
  imperative.truncate(14);
  add(14, 2);
  compare(16);
  add(16, 24);  // a long stretch: the sliding window binds when it is small
  compare(39);
  CHECK_THROWS_AS(program.add_context(20, f.data(), 1), mimo::Error);
  CHECK(program.context_rows() == imperative.context_rows());
  compare(39);
}

}  // namespace

TEST_CASE("drafter programs reproduce the imperative drafter bit for bit", "[spec][dflash]") {
  auto model = spec_test::load("tiny-bf16");
  const std::string drafter = spec_test::data("dflash/drafter");
  SECTION("the fixture drafter") {
    check_identity(*model, drafter);
  }
  SECTION("a sliding window of 3 on its sliding layer") {
    DrafterCopy copy(drafter, "window", [](nlohmann::json& c) { c["sliding_window"] = 3; }, {});
    check_identity(*model, copy.dir.string());
  }
  SECTION("a mask-embedding override, no layer types (every layer sliding)") {
    std::vector<float> mask(64);
    for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = 0.01f * static_cast<float>(i) - 0.3f;
    DrafterCopy copy(
        drafter, "mask",
        [](nlohmann::json& c) {
          c.erase("layer_types");
          c["sliding_window"] = 5;
        },
        mask);
    check_identity(*model, copy.dir.string());
  }
}

TEST_CASE("drafter programs reproduce the imperative demo drafter bit for bit", "[spec][dflash]") {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.num_threads = 2;
  options.max_context = 256;
  options.max_step_tokens = 8;
  auto model = mimo::Model::load(std::string(MIMO_SOURCE_DIR) + "/models/demo/mixed", options);
  check_identity(*model, std::string(MIMO_SOURCE_DIR) + "/models/demo/drafter");
}
