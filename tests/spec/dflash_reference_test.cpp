// The DFlash drafter against transformers (tests/data/dflash): the step-0 context features, the
// drafter's step-0 hidden states, every step's candidates, and the greedy output; and drafter
// configs that do not fit the target are rejected with clear errors.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "api/model_impl.hpp"
#include "cpu/npy_reader.hpp"
#include "exec/executor.hpp"
#include "mimo/error.hpp"
#include "spec/dflash_speculator.hpp"
#include "spec_test_support.hpp"

namespace {

namespace fs = std::filesystem;
using mimo::cpu::testing::read_npy_f32;

// Elements outside tests/data/README.md's float32 tolerance |a - b| <= 1e-4 + 1e-4 |b|.
int outside_tolerance(const float* a, const float* b, std::size_t n) {
  int bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::fabs(a[i] - b[i]) > 1e-4f + 1e-4f * std::fabs(b[i])) ++bad;
  }
  return bad;
}

// Records every proposal of the wrapped speculator.
class Recorder final : public mimo::Speculator {
 public:
  explicit Recorder(std::shared_ptr<mimo::Speculator> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return "recorder"; }
  int max_draft() const override { return inner_->max_draft(); }
  std::vector<int> feature_layers() const override { return inner_->feature_layers(); }
  void observe(std::int64_t first, const float* f, std::int64_t rows) override {
    inner_->observe(first, f, rows);
  }
  void truncate(std::int64_t length) override { inner_->truncate(length); }
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                    int max_draft) override {
    auto out = inner_->propose(context, max_draft);
    steps.push_back({static_cast<std::int64_t>(context.size()) - 1, context.back(), out});
    return out;
  }
  struct Step {
    std::int64_t anchor_position;
    std::int32_t anchor;
    std::vector<std::int32_t> drafts;
  };
  std::vector<Step> steps;

 private:
  std::shared_ptr<mimo::Speculator> inner_;
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// A copy of the fixture drafter with config.json edited by `edit`.
struct EditedDrafter {
  explicit EditedDrafter(const std::function<void(nlohmann::json&)>& edit) {
    dir = fs::temp_directory_path() / fs::path("mimo_spec_drafter_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(spec_test::data("dflash/drafter/model.safetensors"), dir / "model.safetensors",
                  fs::copy_options::overwrite_existing);
    nlohmann::json config = read_json(spec_test::data("dflash/drafter/config.json"));
    edit(config);
    std::ofstream(dir / "config.json") << config.dump(1);
  }
  ~EditedDrafter() { fs::remove_all(dir); }
  fs::path dir;
};

std::string rejection(const mimo::Model& model, const std::function<void(nlohmann::json&)>& edit,
                      mimo::ErrorCode expected = mimo::ErrorCode::kInvalidArgument) {
  EditedDrafter drafter(edit);
  try {
    mimo::make_dflash_speculator(model, drafter.dir.string());
  } catch (const mimo::Error& e) {
    CHECK(e.code() == expected);
    return e.what();
  }
  FAIL("the drafter was accepted");
  return "";
}

}  // namespace

TEST_CASE("DFlash step 0 matches transformers: context features and drafter hidden states",
          "[spec][dflash]") {
  auto model = spec_test::load("tiny-bf16");
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  auto speculator = mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter"));
  auto& dflash = dynamic_cast<mimo::spec::DFlashSpeculator&>(*speculator);
  REQUIRE(dflash.feature_layers() == std::vector<int>{1, 4});
  REQUIRE(dflash.max_draft() == 3);

  // Target features of the prompt through the executor's taps.
  const mimo::Model::Impl& m = model->impl();
  auto state = m.executor->new_state({256, 16});
  mimo::exec::StepOptions options;
  options.hidden_taps = dflash.feature_layers();
  mimo::exec::StepOutput out = m.executor->run(*state, prompt, options);
  auto context = read_npy_f32(spec_test::data("dflash/step0_context.npy"));
  REQUIRE(context.shape == std::vector<std::int64_t>{12, 128});
  REQUIRE(out.hidden.size() == context.data.size());
  CHECK(outside_tolerance(out.hidden.data(), context.data.data(), context.data.size()) == 0);

  // The drafter on transformers' own context input.
  dflash.observe(0, context.data.data(), 12);
  const std::vector<std::int32_t> full =
      spec_test::read_ids(spec_test::data("dflash/greedy_plain.txt"));
  auto hidden = dflash.drafter().block_hidden(full[0], 12);
  auto expected = read_npy_f32(spec_test::data("dflash/step0_draft_hidden.npy"));
  REQUIRE(expected.shape == std::vector<std::int64_t>{4, 64});
  REQUIRE(hidden.size() == expected.data.size());
  CHECK(outside_tolerance(hidden.data(), expected.data.data(), hidden.size()) == 0);
}

TEST_CASE("DFlash proposals equal transformers' candidates at every step", "[spec][dflash]") {
  auto model = spec_test::load("tiny-bf16");
  const auto prompt = spec_test::read_ids(spec_test::data("dflash/prompt.txt"));
  const auto expected_tokens = spec_test::read_ids(spec_test::data("dflash/greedy_dflash.txt"));
  const nlohmann::json reference = read_json(spec_test::data("dflash/candidates.json"));
  auto recorder = std::make_shared<Recorder>(
      mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter")));
  auto result =
      spec_test::generate(*model, prompt, static_cast<int>(expected_tokens.size()), recorder);
  CHECK(result.tokens == expected_tokens);

  const auto& steps = reference.at("steps");
  REQUIRE(steps.size() >= 3);
  // transformers stops drafting near max_new_tokens, this session trims drafts to what can
  // still be emitted: compare every step both ran, on the drafts both kept.
  const std::size_t common = std::min(steps.size(), recorder->steps.size());
  REQUIRE(common + 2 >= steps.size());
  int compared_drafts = 0;
  for (std::size_t i = 0; i < common; ++i) {
    INFO("step " << i);
    const auto& want = steps[i];
    const auto& got = recorder->steps[i];
    CHECK(got.anchor_position == want.at("anchor_position").get<std::int64_t>());
    CHECK(got.anchor == want.at("anchor_token").get<std::int32_t>());
    const auto candidates = want.at("candidates").get<std::vector<std::int32_t>>();
    REQUIRE(got.drafts.size() <= candidates.size());
    for (std::size_t k = 0; k < got.drafts.size(); ++k, ++compared_drafts) {
      CHECK(got.drafts[k] == candidates[k]);
    }
  }
  CHECK(compared_drafts >= 3 * static_cast<int>(common) - 6);
}

TEST_CASE("DFlash observation: buffered rows give the context one-row updates give",
          "[spec][dflash]") {
  auto model = spec_test::load("tiny-bf16");
  auto context = read_npy_f32(spec_test::data("dflash/step0_context.npy"));
  REQUIRE(context.shape == std::vector<std::int64_t>{12, 128});
  const float* rows = context.data.data();
  auto make = [&] {
    return mimo::make_dflash_speculator(*model, spec_test::data("dflash/drafter"));
  };
  auto hidden = [](mimo::Speculator& s) {
    return dynamic_cast<mimo::spec::DFlashSpeculator&>(s).drafter().block_hidden(5, 12);
  };
  // All at once (at least the batch: straight into the context).
  auto whole = make();
  whole->observe(0, rows, 12);
  const std::vector<float> want = hidden(*whole);
  // One row at a time (buffered, flushed at 8 and before the block).
  auto single = make();
  for (int r = 0; r < 12; ++r) single->observe(r, rows + r * 128, 1);
  CHECK(hidden(*single) == want);
  // Rows re-observed after a rewind, inside and before the buffer; garbage rows replaced.
  auto rewound = make();
  std::vector<float> garbage(12 * 128, 7.0f);
  rewound->observe(0, rows, 3);
  rewound->observe(3, garbage.data(), 4);  // buffered (3 + 4 < 8)
  rewound->truncate(3);
  auto three = make();
  three->observe(0, rows, 3);
  CHECK(hidden(*rewound) == hidden(*three));  // the buffered rows past 3 are gone
  rewound->observe(3, rows + 3 * 128, 2);
  rewound->observe(5, garbage.data(), 1);
  rewound->observe(2, rows + 2 * 128, 10);  // re-runs position 2 onward
  CHECK(hidden(*rewound) == want);
  // No features for observed rows is an error naming what is missing, not a crash.
  auto empty = make();
  try {
    empty->observe(0, nullptr, 2);
    FAIL("observe without features did not throw");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kInvalidArgument);
    CHECK(std::string(e.what()).find("without features") != std::string::npos);
  }
}

TEST_CASE("drafters that do not fit the target are rejected", "[spec][dflash][errors]") {
  auto model = spec_test::load("tiny-bf16");
  std::string msg = rejection(*model, [](nlohmann::json& c) {
    c["hidden_size"] = 32;
    c["head_dim"] = 8;
  });
  CHECK(msg.find("hidden_size 32") != std::string::npos);
  msg = rejection(*model, [](nlohmann::json& c) { c["target_layer_ids"] = {1, 5}; });
  CHECK(msg.find("target layer 5") != std::string::npos);
  msg = rejection(*model, [](nlohmann::json& c) { c["mask_token_id"] = 256; });
  CHECK(msg.find("mask_token_id 256") != std::string::npos);
  msg = rejection(*model, [](nlohmann::json& c) { c["block_size"] = 9; });  // > max_step_tokens
  CHECK(msg.find("block size 9") != std::string::npos);
  // A fitting config whose tensors disagree with it: the binder names the tensor.
  msg = rejection(
      *model, [](nlohmann::json& c) { c["intermediate_size"] = 96; },
      mimo::ErrorCode::kInvalidFile);
  CHECK(msg.find("mlp.gate_proj.weight") != std::string::npos);
  // The fp8 fixture has hidden size 136: the tiny-bf16 drafter cannot serve it.
  auto fp8 = spec_test::load("tiny-fp8");
  bool threw = false;
  try {
    mimo::make_dflash_speculator(*fp8, spec_test::data("dflash/drafter"));
  } catch (const mimo::Error& e) {
    threw = e.code() == mimo::ErrorCode::kInvalidArgument;
  }
  CHECK(threw);
}
