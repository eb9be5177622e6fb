// DFlash drafter configs: the published Qwen3 and MiMo configs, the loader fallbacks, rejections
// and the checks against the target model.
#include "model/drafter_config.hpp"

#include "model/config_parse.hpp"
#include "model/model_test_support.hpp"

namespace mimo::model {
namespace {

using nlohmann::json;
using testing::require_error;

const std::string kLabel = "/drafts/d/config.json";

// Qwen3-4B-DFlash-b16 (research/dflash.md 3.1).
json qwen3_4b_dflash() {
  return {{"architectures", {"DFlashDraftModel"}},
          {"auto_map", {{"AutoModel", "dflash.DFlashDraftModel"}}},
          {"model_type", "qwen3"},
          {"dtype", "bfloat16"},
          {"block_size", 16},
          {"dflash_config", {{"mask_token_id", 151669}, {"target_layer_ids", {1, 9, 17, 25, 33}}}},
          {"num_target_layers", 36},
          {"num_hidden_layers", 5},
          {"hidden_size", 2560},
          {"intermediate_size", 9728},
          {"num_attention_heads", 32},
          {"num_key_value_heads", 8},
          {"head_dim", 128},
          {"hidden_act", "silu"},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 1000000},
          {"rope_scaling", nullptr},
          {"max_position_embeddings", 40960},
          {"attention_bias", false},
          {"layer_types", std::vector<std::string>(5, "full_attention")},
          {"sliding_window", nullptr},
          {"use_sliding_window", false},
          {"tie_word_embeddings", true},
          {"vocab_size", 151936}};
}

// XiaomiMiMo/MiMo-V2.5-Pro-FP4-DFlash dflash/config.json (research/dflash.md 3.1).
json mimo_dflash() {
  return {{"architectures", {"DFlashDraftModel"}},
          {"hidden_size", 6144},
          {"intermediate_size", 16384},
          {"num_hidden_layers", 5},
          {"num_attention_heads", 128},
          {"num_key_value_heads", 8},
          {"head_dim", 128},
          {"v_head_dim", 128},
          {"partial_rotary_factor", 0.5},
          {"block_size", 8},
          {"dflash_config",
           {{"target_layer_ids", {0, 15, 31, 47, 69}},
            {"mask_token_id", 151669},
            {"num_anchors", 4096},
            {"block_size", 8},
            {"loss_decay_gamma", 7.0},
            {"use_swa", true},
            {"swa_window_size", 1024},
            {"backbone_rotary_base", 5000000},
            {"attention_value_scale", 0.612},
            {"attention_sink_bias", true}}},
          {"num_target_layers", 70},
          {"vocab_size", 152064},
          {"rope_theta", 10000},
          {"sliding_window", 1024},
          {"rms_norm_eps", 1e-5}};
}

ModelConfig v25_pro_target() {
  return parse_model_config(json{{"model_type", "mimo_v2"},
                                 {"hidden_size", 6144},
                                 {"num_hidden_layers", 70},
                                 {"num_attention_heads", 128},
                                 {"num_key_value_heads", 8},
                                 {"swa_num_key_value_heads", 8},
                                 {"n_routed_experts", 384}},
                            "target/config.json");
}

TEST_CASE("the Qwen3-4B DFlash config parses") {
  DrafterConfig d = parse_drafter_config(qwen3_4b_dflash(), kLabel);
  CHECK(d.architecture == "DFlashDraftModel");
  CHECK(d.hidden_size == 2560);
  CHECK(d.num_layers == 5);
  CHECK(d.intermediate_size == 9728);
  CHECK(d.vocab_size == 151936);
  CHECK(d.num_heads == 32);
  CHECK(d.num_kv_heads == 8);
  CHECK(d.head_dim == 128);
  CHECK(d.v_head_dim == 128);
  CHECK(d.rotary_dim == 128);
  CHECK(d.rope_theta == 1e6);
  CHECK(d.rms_norm_eps == 1e-6);
  CHECK(d.block_size == 16);
  CHECK(d.mask_token_id == 151669);
  CHECK(d.target_layer_ids == std::vector<int>{1, 9, 17, 25, 33});
  CHECK(d.num_target_layers == 36);
  CHECK_FALSE(d.sliding_window.has_value());
  CHECK(d.layer_types == std::vector<AttentionKind>(5, AttentionKind::kFull));
  CHECK(d.attention_value_scale == 1.0);
  CHECK_FALSE(d.has_sink);
}

TEST_CASE("a drafter's odd rotary dim rotates one more dim, its frequencies over d") {
  auto c = mimo_dflash();
  c["partial_rotary_factor"] = 0.334;  // int(128 * 0.334) = 42: even
  CHECK(parse_drafter_config(c, kLabel).rotary_dim == 42);
  c["partial_rotary_factor"] = 0.3;  // int(128 * 0.3) = int(38.4) = 38
  CHECK(parse_drafter_config(c, kLabel).rotary_dim == 38);
  c["partial_rotary_factor"] = 0.165;  // int(21.12) = 21: odd
  const DrafterConfig d = parse_drafter_config(c, kLabel);
  CHECK(d.rope_dim == 21);
  CHECK(d.frequency_dim() == 21);
  CHECK(d.rotary_dim == 22);
}

TEST_CASE("the MiMo DFlash config parses and fits MiMo-V2.5-Pro") {
  DrafterConfig d = parse_drafter_config(mimo_dflash(), kLabel);
  CHECK(d.hidden_size == 6144);
  CHECK(d.num_heads == 128);
  CHECK(d.num_kv_heads == 8);
  CHECK(d.rotary_dim == 64);  // int(128 * 0.5)
  CHECK(d.rope_theta == 10000.0);
  CHECK(d.block_size == 8);
  CHECK(d.mask_token_id == 151669);
  CHECK(d.target_layer_ids == std::vector<int>{0, 15, 31, 47, 69});
  CHECK(d.num_target_layers == 70);
  CHECK(d.vocab_size == 152064);
  REQUIRE(d.sliding_window.has_value());
  CHECK(*d.sliding_window == 1024);
  CHECK(d.layer_types.empty());
  CHECK(d.attention_value_scale == 0.612);
  CHECK(d.has_sink);
  CHECK(d.rms_norm_eps == 1e-5);
  ModelConfig target = v25_pro_target();
  validate_drafter_against_target(d, target);  // must not throw

  ModelConfig flash = parse_model_config(json{{"model_type", "mimo_v2_flash"}}, "flash");
  require_error([&] { validate_drafter_against_target(d, flash); }, ErrorCode::kInvalidArgument,
                {"hidden_size 6144", "4096"});
}

TEST_CASE("build_target_layer_ids spaces layers like z-lab's Python (round half to even)") {
  CHECK(build_target_layer_ids(36, 5) == std::vector<int>{1, 9, 17, 25, 33});
  // 1 + i * 66 / 4: 17.5 -> 18 and 50.5 -> 50 under round-half-even.
  CHECK(build_target_layer_ids(70, 5) == std::vector<int>{1, 18, 34, 50, 67});
  CHECK(build_target_layer_ids(64, 5) == std::vector<int>{1, 16, 31, 46, 61});  // Qwen3.5-27B
  CHECK(build_target_layer_ids(48, 1) == std::vector<int>{24});
  CHECK(build_target_layer_ids(10, 2) == std::vector<int>{1, 7});
}

TEST_CASE("drafter loader fallbacks") {
  json c = qwen3_4b_dflash();
  c.erase("block_size");
  c["dflash_config"]["block_size"] = 8;
  c["dflash_config"].erase("target_layer_ids");
  c["dflash_config"].erase("mask_token_id");
  c["mask_token_id"] = 151670;
  c.erase("rope_theta");
  c["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5e5}};
  c.erase("layer_types");
  c.erase("num_key_value_heads");
  c.erase("head_dim");
  DrafterConfig d = parse_drafter_config(c, kLabel);
  CHECK(d.block_size == 8);
  CHECK(d.target_layer_ids == std::vector<int>{1, 9, 17, 25, 33});
  CHECK(d.mask_token_id == 151670);
  CHECK(d.rope_theta == 5e5);
  CHECK(d.layer_types.empty());
  CHECK(d.num_kv_heads == 32);
  CHECK(d.head_dim == 80);  // hidden / heads
  c.erase("rope_parameters");
  c.erase("mask_token_id");
  DrafterConfig bare = parse_drafter_config(c, kLabel);
  CHECK(bare.rope_theta == 1e6);
  CHECK(bare.mask_token_id == -1);

  json mimo = mimo_dflash();
  mimo["dflash_config"].erase("swa_window_size");
  CHECK(parse_drafter_config(mimo, kLabel).sliding_window == std::optional<int>(1024));
  mimo["dflash_config"]["use_swa"] = false;
  CHECK_FALSE(parse_drafter_config(mimo, kLabel).sliding_window.has_value());
  json swa_layers = qwen3_4b_dflash();
  swa_layers["layer_types"][4] = "sliding_attention";
  swa_layers["sliding_window"] = 2048;
  DrafterConfig mixed = parse_drafter_config(swa_layers, kLabel);
  CHECK(mixed.layer_types[4] == AttentionKind::kSliding);
  CHECK(mixed.sliding_window == std::optional<int>(2048));
}

TEST_CASE("drafter configs that are not DFlash or are incomplete are rejected") {
  json c = qwen3_4b_dflash();
  c["architectures"] = {"DFlash2DraftModel"};
  c["conv_kernel_size"] = 4;
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kUnsupported,
                {kLabel, "DFlash2"});
  c = qwen3_4b_dflash();
  c["dflash_config"]["sample_from_anchor"] = true;
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kUnsupported,
                {"dflash_config.sample_from_anchor"});
  c = qwen3_4b_dflash();
  c.erase("block_size");
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"block_size", "missing"});
  c = qwen3_4b_dflash();
  c["dflash_config"].erase("target_layer_ids");
  c.erase("num_target_layers");
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"num_target_layers"});
  c = qwen3_4b_dflash();
  c["dflash_config"]["target_layer_ids"] = {1, 36};
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"target_layer_ids", "36"});
  c = qwen3_4b_dflash();
  c["architectures"] = {"Qwen3ForCausalLM"};
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kUnsupported,
                {"Qwen3ForCausalLM"});
  c = qwen3_4b_dflash();
  c["layer_types"].erase(0);
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"layer_types", "4 entries"});
  c = qwen3_4b_dflash();
  c["block_size"] = "16";
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"block_size", "integer"});
  c = qwen3_4b_dflash();
  c["dflash_config"]["attention_value_scale"] = 1e30;
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {kLabel, "attention_value_scale", "1e+30"});
  c = qwen3_4b_dflash();
  c["rms_norm_eps"] = 1e30;
  require_error([&] { parse_drafter_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {kLabel, "rms_norm_eps", "1e+30"});
}

TEST_CASE("validate_drafter_against_target catches mismatches") {
  ModelConfig target = v25_pro_target();
  DrafterConfig d = parse_drafter_config(mimo_dflash(), kLabel);
  DrafterConfig bad = d;
  bad.target_layer_ids.back() = 70;
  require_error([&] { validate_drafter_against_target(bad, target); }, ErrorCode::kInvalidArgument,
                {"target layer 70", "70 layers"});
  bad = d;
  bad.mask_token_id = 152576;
  require_error([&] { validate_drafter_against_target(bad, target); }, ErrorCode::kInvalidArgument,
                {"mask_token_id 152576"});
  bad.mask_token_id = -1;
  require_error([&] { validate_drafter_against_target(bad, target); }, ErrorCode::kInvalidArgument,
                {"mask_token_id is not set"});
  bad = d;
  bad.num_target_layers = 48;
  require_error([&] { validate_drafter_against_target(bad, target); }, ErrorCode::kInvalidArgument,
                {"num_target_layers 48"});
}

}  // namespace
}  // namespace mimo::model
