// config.json parsing: both schemas, the MiMo-V2-Flash defaults, the MiMo-V2.5-Pro hub config,
// and one rejection per unsupported or inconsistent setting.
#include "model/config_parse.hpp"

#include <filesystem>
#include <fstream>
#include <functional>

#include "model/model_test_support.hpp"
#include "model/tiny_checkpoint.hpp"

namespace mimo::model {
namespace {

using nlohmann::json;
using testing::require_error;

const std::string kLabel = "/models/x/config.json";

void check_same_attention(const AttentionSpec& a, const AttentionSpec& b) {
  CHECK(a.num_heads == b.num_heads);
  CHECK(a.num_kv_heads == b.num_kv_heads);
  CHECK(a.head_dim == b.head_dim);
  CHECK(a.v_head_dim == b.v_head_dim);
  CHECK(a.rope_theta == b.rope_theta);
  CHECK(a.rotary_dim == b.rotary_dim);
  CHECK(a.has_sink == b.has_sink);
}

void check_same_model(const ModelConfig& a, const ModelConfig& b) {
  CHECK(a.vocab_size == b.vocab_size);
  CHECK(a.hidden_size == b.hidden_size);
  CHECK(a.num_layers == b.num_layers);
  check_same_attention(a.full, b.full);
  check_same_attention(a.sliding, b.sliding);
  CHECK(a.sliding_window == b.sliding_window);
  CHECK(a.attention_value_scale == b.attention_value_scale);
  CHECK(a.intermediate_size == b.intermediate_size);
  CHECK(a.moe_intermediate_size == b.moe_intermediate_size);
  CHECK(a.n_routed_experts == b.n_routed_experts);
  CHECK(a.num_experts_per_tok == b.num_experts_per_tok);
  CHECK(a.n_group == b.n_group);
  CHECK(a.topk_group == b.topk_group);
  CHECK(a.norm_topk_prob == b.norm_topk_prob);
  CHECK(a.routed_scaling_factor == b.routed_scaling_factor);
  CHECK(a.rms_norm_eps == b.rms_norm_eps);
  CHECK(a.tie_word_embeddings == b.tie_word_embeddings);
  CHECK(a.fused_qkv == b.fused_qkv);
  CHECK(a.max_position_embeddings == b.max_position_embeddings);
  REQUIRE(a.layers.size() == b.layers.size());
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    CHECK(a.layers[i].attention == b.layers[i].attention);
    CHECK(a.layers[i].mlp == b.layers[i].mlp);
  }
  CHECK(a.eos_token_ids == b.eos_token_ids);
  CHECK(a.bos_token_id == b.bos_token_id);
}

std::string attention_pattern(const ModelConfig& c) {
  std::string s;
  for (const LayerSpec& l : c.layers) s += l.attention == AttentionKind::kFull ? 'F' : 'S';
  return s;
}
std::string mlp_pattern(const ModelConfig& c) {
  std::string s;
  for (const LayerSpec& l : c.layers) s += l.mlp == MlpKind::kDense ? 'D' : 'M';
  return s;
}

// The MiMo-V2.5-Pro hub config as docs/MIMO.md records it.
json v25_pro_config() {
  std::vector<int> pattern(70, 1), moe(70, 1);
  for (int full : {0, 7, 15, 23, 31, 39, 47, 55, 62, 69}) pattern[full] = 0;
  moe[0] = 0;
  std::vector<std::string> ignored;
  for (int i = 0; i < 70; ++i)
    ignored.push_back("model.layers." + std::to_string(i) + ".self_attn.o_proj");
  return {{"architectures", {"MiMoV2ForCausalLM"}},
          {"model_type", "mimo_v2"},
          {"hidden_size", 6144},
          {"num_hidden_layers", 70},
          {"num_attention_heads", 128},
          {"num_key_value_heads", 8},
          {"swa_num_attention_heads", 128},
          {"swa_num_key_value_heads", 8},
          {"head_dim", 192},
          {"swa_head_dim", 192},
          {"v_head_dim", 128},
          {"swa_v_head_dim", 128},
          {"vocab_size", 152576},
          {"max_position_embeddings", 1048576},
          {"hybrid_layer_pattern", pattern},
          {"moe_layer_freq", moe},
          {"rope_theta", 10000000},
          {"swa_rope_theta", 10000},
          {"partial_rotary_factor", 0.334},
          {"sliding_window", 128},
          {"sliding_window_size", 128},
          {"attention_value_scale", 0.612},
          {"add_swa_attention_sink_bias", true},
          {"add_full_attention_sink_bias", false},
          {"layernorm_epsilon", 1e-5},
          {"n_routed_experts", 384},
          {"num_experts_per_tok", 8},
          {"moe_intermediate_size", 2048},
          {"n_shared_experts", nullptr},
          {"scoring_func", "sigmoid"},
          {"topk_method", "noaux_tc"},
          {"n_group", 1},
          {"topk_group", 1},
          {"norm_topk_prob", true},
          {"routed_scaling_factor", nullptr},
          {"intermediate_size", 16384},
          {"hidden_act", "silu"},
          {"attention_bias", false},
          {"attention_projection_layout", "fused_qkv"},
          {"quantization_config",
           {{"quant_method", "fp8"},
            {"fmt", "e4m3"},
            {"activation_scheme", "dynamic"},
            {"weight_block_size", {128, 128}},
            {"ignored_layers", ignored}}}};
}

TEST_CASE("both schemas parse equivalent settings into equal ModelConfigs") {
  ModelConfig flash = parse_model_config(testing::tiny_config_json("mimo_v2_flash"), kLabel);
  ModelConfig hub = parse_model_config(testing::tiny_config_json("mimo_v2"), kLabel);
  CHECK(flash.schema == "mimo_v2_flash");
  CHECK(flash.architecture == "MiMoV2FlashForCausalLM");
  CHECK(hub.schema == "mimo_v2");
  CHECK(hub.architecture == "MiMoV2ForCausalLM");
  check_same_model(flash, hub);
  CHECK(attention_pattern(flash) == "FSSSSF");
  CHECK(mlp_pattern(flash) == "DMMMMM");
  CHECK(flash.sliding.num_kv_heads == 4);     // transformers doubles the kv heads on sliding layers
  CHECK(flash.full.rotary_dim == 10);         // int(32 * 0.334) = int(10.688)
  CHECK(flash.routed_scaling_factor == 1.0);  // null -> 1.0
}

TEST_CASE("an empty mimo_v2_flash config takes the MiMo-V2-Flash defaults") {
  ModelConfig c = parse_model_config(json{{"model_type", "mimo_v2_flash"}}, kLabel);
  CHECK(c.architecture == "MiMoV2FlashForCausalLM");
  CHECK(c.vocab_size == 152576);
  CHECK(c.hidden_size == 4096);
  REQUIRE(c.num_layers == 48);
  std::string expected;
  for (int i = 0; i < 48; ++i) expected += i == 0 || (i + 1) % 6 == 0 ? 'F' : 'S';
  CHECK(attention_pattern(c) == expected);
  CHECK(expected.substr(0, 12) == "FSSSSFSSSSSF");  // full at 0, 5, 11, ...
  CHECK(mlp_pattern(c) == "D" + std::string(47, 'M'));
  CHECK(c.full.num_heads == 64);
  CHECK(c.full.num_kv_heads == 4);
  CHECK(c.sliding.num_heads == 64);
  CHECK(c.sliding.num_kv_heads == 8);
  CHECK(c.full.head_dim == 192);
  CHECK(c.full.v_head_dim == 128);
  CHECK(c.full.rotary_dim == 64);
  CHECK(c.sliding.rotary_dim == 64);
  CHECK(c.full.rope_theta == 5e6);
  CHECK(c.sliding.rope_theta == 1e4);
  CHECK_FALSE(c.full.has_sink);
  CHECK(c.sliding.has_sink);
  CHECK(c.sliding_window == 128);
  CHECK(c.attention_value_scale == 0.707);
  CHECK(c.intermediate_size == 16384);
  CHECK(c.moe_intermediate_size == 2048);
  CHECK(c.n_routed_experts == 256);
  CHECK(c.num_experts_per_tok == 8);
  CHECK(c.rms_norm_eps == 1e-5);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK_FALSE(c.fused_qkv);
  CHECK_FALSE(c.quantization.has_value());
}

TEST_CASE("the MiMo-V2.5-Pro hub config parses") {
  ModelConfig c = parse_model_config(v25_pro_config(), kLabel);
  CHECK(c.schema == "mimo_v2");
  REQUIRE(c.num_layers == 70);
  std::vector<int> full;
  for (int i = 0; i < 70; ++i) {
    if (c.layers[i].attention == AttentionKind::kFull) full.push_back(i);
  }
  CHECK(full == std::vector<int>{0, 7, 15, 23, 31, 39, 47, 55, 62, 69});
  CHECK(mlp_pattern(c) == "D" + std::string(69, 'M'));
  CHECK(c.full.num_heads == 128);
  CHECK(c.full.num_kv_heads == 8);
  CHECK(c.sliding.num_kv_heads == 8);  // stated, not doubled
  CHECK(c.full.rope_theta == 1e7);
  CHECK(c.sliding.rope_theta == 1e4);
  CHECK(c.full.rotary_dim == 64);
  CHECK(c.sliding.has_sink);
  CHECK_FALSE(c.full.has_sink);
  CHECK(c.attention_value_scale == 0.612);
  CHECK(c.fused_qkv);
  CHECK(c.n_routed_experts == 384);
  CHECK(c.routed_scaling_factor == 1.0);
  CHECK(c.max_position_embeddings == 1048576);
  REQUIRE(c.quantization.has_value());
  CHECK(c.quantization->method == "fp8");
  CHECK(c.quantization->fmt == "e4m3");
  CHECK(c.quantization->activation_scheme == "dynamic");
  CHECK(c.quantization->weight_block_size == std::vector<int>{128, 128});
  REQUIRE(c.quantization->ignored.size() == 70);
  CHECK(c.quantization->ignored[3] == "model.layers.3.self_attn.o_proj");
}

TEST_CASE("rope settings: flat rope_parameters, per-type overrides, int() truncation") {
  json c = testing::tiny_config_json("mimo_v2_flash");
  c["rope_parameters"] = {{"rope_theta", 20000.0}, {"partial_rotary_factor", 0.5}};
  ModelConfig flat = parse_model_config(c, kLabel);
  CHECK(flat.full.rope_theta == 20000.0);
  CHECK(flat.sliding.rope_theta == 20000.0);
  CHECK(flat.full.rotary_dim == 16);
  // 96 * 0.34 = 32.64 -> 32 (Python int() truncates).
  c["head_dim"] = 96;
  c["rope_parameters"] = {
      {"full_attention", {{"rope_theta", 1e6}, {"partial_rotary_factor", 0.34}}},
      {"sliding_attention", {{"rope_theta", 500.0}}}};
  ModelConfig nested = parse_model_config(c, kLabel);
  CHECK(nested.full.rotary_dim == 32);
  CHECK(nested.full.rope_theta == 1e6);
  CHECK(nested.sliding.rope_theta == 500.0);
  CHECK(nested.sliding.rotary_dim == 32);  // int(96 * 0.334) = int(32.064)
  CHECK(nested.full.frequency_dim() == 32);
}

TEST_CASE("an odd rotary dim rotates one more dim, its frequencies over d (transformers)") {
  json c = testing::tiny_config_json("mimo_v2_flash");
  c["head_dim"] = 64;  // int(64 * 0.334) = 21
  const ModelConfig m = parse_model_config(c, kLabel);
  CHECK(m.full.rope_dim == 21);
  CHECK(m.full.frequency_dim() == 21);
  CHECK(m.full.rotary_dim == 22);
  CHECK(m.sliding.rotary_dim == 22);
}

TEST_CASE("value scale, scaling factor and moe_layer_freq variants") {
  json c = testing::tiny_config_json("mimo_v2");
  c["attention_value_scale"] = nullptr;
  c["routed_scaling_factor"] = 2.5;
  c["moe_layer_freq"] = 2;
  c["first_k_dense_replace"] = 1;
  c["sliding_window"] = nullptr;
  c["sliding_window_size"] = 16;
  ModelConfig m = parse_model_config(c, kLabel);
  CHECK(m.attention_value_scale == 1.0);  // null: no value scaling
  CHECK(m.routed_scaling_factor == 2.5);
  CHECK(mlp_pattern(m) == "DDMDMD");
  CHECK(m.sliding_window == 16);
  c.erase("model_type");  // the architecture alone tells the schema
  CHECK(parse_model_config(c, kLabel).schema == "mimo_v2");
}

struct Rejection {
  const char* what;
  std::function<void(json&)> edit;
  ErrorCode code;
  std::vector<std::string> fragments;
};

TEST_CASE("unsupported or inconsistent configs are rejected naming the file and field") {
  const std::vector<Rejection> cases = {
      {"unknown model_type",
       [](json& c) { c["model_type"] = "qwen3"; },
       ErrorCode::kUnsupported,
       {"model_type", "qwen3"}},
      {"unknown architecture",
       [](json& c) { c["architectures"] = {"LlamaForCausalLM"}; },
       ErrorCode::kUnsupported,
       {"architectures", "LlamaForCausalLM"}},
      {"no model type at all",
       [](json& c) {
         c.erase("model_type");
         c.erase("architectures");
       },
       ErrorCode::kUnsupported,
       {"model_type"}},
      {"heads not divisible",
       [](json& c) { c["num_key_value_heads"] = 3; },
       ErrorCode::kInvalidFile,
       {"num_key_value_heads", "4 attention heads", "3 key/value"}},
      {"layer pattern length",
       [](json& c) { c["layer_types"].erase(0); },
       ErrorCode::kInvalidFile,
       {"layer_types", "5 entries", "num_hidden_layers is 6"}},
      {"mlp pattern length",
       [](json& c) { c["mlp_layer_types"].push_back("dense"); },
       ErrorCode::kInvalidFile,
       {"mlp_layer_types", "7 entries"}},
      {"unknown layer type",
       [](json& c) { c["layer_types"][2] = "linear_attention"; },
       ErrorCode::kUnsupported,
       {"layer_types[2]", "linear_attention"}},
      {"zero hidden size",
       [](json& c) { c["hidden_size"] = 0; },
       ErrorCode::kInvalidFile,
       {"hidden_size", "must be positive"}},
      {"negative vocab",
       [](json& c) { c["vocab_size"] = -5; },
       ErrorCode::kInvalidFile,
       {"vocab_size"}},
      {"top-k above experts",
       [](json& c) { c["num_experts_per_tok"] = 9; },
       ErrorCode::kInvalidFile,
       {"num_experts_per_tok", "top-9", "8 routed experts"}},
      {"topk_group above n_group",
       [](json& c) { c["topk_group"] = 3; },
       ErrorCode::kInvalidFile,
       {"topk_group", "n_group 2"}},
      {"experts not divisible by groups",
       [](json& c) { c["n_group"] = 3; },
       ErrorCode::kInvalidFile,
       {"n_group", "8 experts"}},
      {"kept groups too small for top-k",
       [](json& c) { c["num_experts_per_tok"] = 5; },
       ErrorCode::kInvalidFile,
       {"topk_group", "top-5"}},
      {"zero sliding window",
       [](json& c) { c["sliding_window"] = 0; },
       ErrorCode::kInvalidFile,
       {"sliding_window"}},
      {"string where int expected",
       [](json& c) { c["hidden_size"] = "4096"; },
       ErrorCode::kInvalidFile,
       {"hidden_size", "integer", "string"}},
      {"fractional int",
       [](json& c) { c["num_attention_heads"] = 4.5; },
       ErrorCode::kInvalidFile,
       {"num_attention_heads", "integer"}},
      {"bool expected",
       [](json& c) { c["tie_word_embeddings"] = 1; },
       ErrorCode::kInvalidFile,
       {"tie_word_embeddings", "true or false"}},
      {"list expected",
       [](json& c) { c["layer_types"] = "full_attention"; },
       ErrorCode::kInvalidFile,
       {"layer_types", "list"}},
      {"attention bias",
       [](json& c) { c["attention_bias"] = true; },
       ErrorCode::kUnsupported,
       {"attention_bias"}},
      {"shared experts",
       [](json& c) { c["n_shared_experts"] = 1; },
       ErrorCode::kUnsupported,
       {"n_shared_experts"}},
      {"activation",
       [](json& c) { c["hidden_act"] = "gelu"; },
       ErrorCode::kUnsupported,
       {"hidden_act", "gelu"}},
      {"softmax routing",
       [](json& c) { c["scoring_func"] = "softmax"; },
       ErrorCode::kUnsupported,
       {"scoring_func", "softmax"}},
      {"topk method",
       [](json& c) { c["topk_method"] = "greedy"; },
       ErrorCode::kUnsupported,
       {"topk_method", "greedy"}},
      {"rotary width beyond head_dim",  // d = 63 rotates 64 dims
       [](json& c) {
         c["head_dim"] = 63;
         c["rope_parameters"]["full_attention"]["partial_rotary_factor"] = 1.0;
       },
       ErrorCode::kUnsupported,
       {"partial_rotary_factor", "63", "64"}},
      {"yarn rope",
       [](json& c) { c["rope_parameters"]["full_attention"]["rope_type"] = "yarn"; },
       ErrorCode::kUnsupported,
       {"rope_parameters.full_attention.rope_type", "yarn"}},
      {"projection layout",
       [](json& c) { c["attention_projection_layout"] = "fused_kv"; },
       ErrorCode::kUnsupported,
       {"attention_projection_layout", "fused_kv"}},
      {"quant method",
       [](json& c) {
         c["quantization_config"] = {{"quant_method", "awq"}};
       },
       ErrorCode::kUnsupported,
       {"quantization_config.quant_method", "awq"}},
      {"static fp8 activations",
       [](json& c) {
         c["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "static"}};
       },
       ErrorCode::kUnsupported,
       {"quantization_config.activation_scheme", "static"}},
      {"bad block size",
       [](json& c) {
         c["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {128}}};
       },
       ErrorCode::kInvalidFile,
       {"weight_block_size"}},
      {"eos outside vocab",
       [](json& c) {
         c["eos_token_id"] = {2, 96};
       },
       ErrorCode::kInvalidFile,
       {"eos_token_id", "96"}},
      {"rope_theta that float32 rounds to 0",  // inv_freq = 1 / 0 -> NaN logits
       [](json& c) { c["rope_parameters"]["sliding_attention"]["rope_theta"] = 1e-300; },
       ErrorCode::kInvalidFile,
       {"rope_parameters", "sliding-attention rope_theta 1e-300", "float32"}},
      {"rope_theta beyond float32",
       [](json& c) { c["rope_parameters"]["full_attention"]["rope_theta"] = 1e300; },
       ErrorCode::kInvalidFile,
       {"full-attention rope_theta 1e+300", "float32"}},
      {"routed scaling factor beyond float32",
       [](json& c) { c["routed_scaling_factor"] = 1e308; },
       ErrorCode::kInvalidFile,
       {"routed_scaling_factor", "1e+308", "float32"}},
      {"attention value scale that float32 rounds to 0",
       [](json& c) { c["attention_value_scale"] = 1e-60; },
       ErrorCode::kInvalidFile,
       {"attention_value_scale", "1e-60"}},
      {"rms_norm_eps beyond float32",
       [](json& c) { c["rms_norm_eps"] = 1e100; },
       ErrorCode::kInvalidFile,
       {"rms_norm_eps", "1e+100"}},
      {"absurd layer count",
       [](json& c) { c["num_hidden_layers"] = 100000; },
       ErrorCode::kInvalidFile,
       {"num_hidden_layers", "exceeds the limit"}},
      {"not an object",
       [](json& c) {
         c = json::array({1, 2});
       },
       ErrorCode::kInvalidFile,
       {"JSON object"}},
  };
  for (const Rejection& r : cases) {
    INFO("case: " << r.what);
    json c = testing::tiny_config_json("mimo_v2_flash");
    r.edit(c);
    std::vector<std::string> fragments = r.fragments;
    fragments.push_back(kLabel);
    require_error([&] { parse_model_config(c, kLabel); }, r.code, fragments);
  }
}

TEST_CASE("hub-schema specific rejections") {
  json c = testing::tiny_config_json("mimo_v2");
  c.erase("swa_num_key_value_heads");
  require_error([&] { parse_model_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"swa_num_key_value_heads", "missing"});
  c = testing::tiny_config_json("mimo_v2");
  c["hybrid_layer_pattern"][1] = 2;
  require_error([&] { parse_model_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"hybrid_layer_pattern[1]"});
  c = testing::tiny_config_json("mimo_v2");
  c["layer_types"] = std::vector<std::string>(6, "full_attention");
  require_error([&] { parse_model_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"disagrees with layer_types"});
  c = testing::tiny_config_json("mimo_v2");
  c["swa_num_attention_heads"] = 6;
  require_error([&] { parse_model_config(c, kLabel); }, ErrorCode::kInvalidFile,
                {"swa_num_key_value_heads", "6 attention heads"});
}

TEST_CASE("load_model_config finds config.json from a directory, a file or a shard") {
  testing::TempDir dir;
  std::ofstream(dir.file("config.json")) << testing::tiny_config_json("mimo_v2").dump();
  CHECK(load_model_config(dir.path()).num_layers == 6);
  CHECK(load_model_config(dir.file("config.json")).schema == "mimo_v2");
  CHECK(load_model_config(dir.file("model.safetensors")).hidden_size == 64);
  require_error([&] { load_model_config(dir.file("missing/config.json")); }, ErrorCode::kIo,
                {"missing/config.json"});
  std::ofstream(dir.file("config.json")) << "{\"model_type\": \"mimo_v2\",";
  require_error([&] { load_model_config(dir.path()); }, ErrorCode::kInvalidFile,
                {dir.file("config.json")});
  std::ofstream(dir.file("config.json")) << "{\"model_type\": \"mimo_v2\", \"hidden_size\": 8, "
                                            "\"hidden_size\": 16}";
  require_error([&] { load_model_config(dir.path()); }, ErrorCode::kInvalidFile, {"hidden_size"});
}

}  // namespace
}  // namespace mimo::model
