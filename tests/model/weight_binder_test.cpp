// Weight binding on tiny synthetic checkpoints: every bound weight must decode from the mapped
// bytes to exactly the values written, in each storage format and expert layout; missing,
// misshapen and unexpected tensors must be reported by name.
#include "model/weight_binder.hpp"

#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>

#include "io/checkpoint.hpp"
#include "io/safetensors_writer.hpp"
#include "model/config_parse.hpp"
#include "model/model_test_support.hpp"
#include "model/tiny_checkpoint.hpp"

namespace mimo::model {
namespace {

using nlohmann::json;
using testing::decodes_to;
using testing::require_error;
using testing::TinyCheckpointOptions;
using testing::TinyExpertLayout;
using testing::TinyPrecision;

const std::vector<float>& value(const testing::TinyCheckpoint& t, const std::string& name) {
  auto it = t.values.find(name);
  REQUIRE(it != t.values.end());
  return it->second;
}

// Every bound linear weight decodes to the written values; vectors match byte for byte.
void check_all_weights(const testing::TinyCheckpoint& t, const ModelWeights& w) {
  const ModelConfig& c = t.config;
  CHECK(decodes_to(w.embed, value(t, "model.embed_tokens.weight")));
  CHECK(decodes_to(w.lm_head, value(t, "lm_head.weight")));
  REQUIRE(w.layers.size() == static_cast<std::size_t>(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    INFO("layer " << i);
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const LayerWeights& l = w.layers[i];
    const AttentionSpec& a = c.attention(i);
    CHECK(l.q.rows == std::int64_t{a.num_heads} * a.head_dim);
    CHECK(l.k.rows == std::int64_t{a.num_kv_heads} * a.head_dim);
    CHECK(l.v.rows == std::int64_t{a.num_kv_heads} * a.v_head_dim);
    CHECK(l.o.cols == std::int64_t{a.num_heads} * a.v_head_dim);
    CHECK(decodes_to(l.q, value(t, p + "self_attn.q_proj.weight")));
    CHECK(decodes_to(l.k, value(t, p + "self_attn.k_proj.weight")));
    CHECK(decodes_to(l.v, value(t, p + "self_attn.v_proj.weight")));
    CHECK(decodes_to(l.o, value(t, p + "self_attn.o_proj.weight")));
    CHECK(l.sink.has_value() == a.has_sink);
    CHECK(l.input_norm.size == c.hidden_size);
    if (c.layers[i].mlp == MlpKind::kDense) {
      REQUIRE(l.dense.has_value());
      CHECK(l.experts.empty());
      CHECK(decodes_to(l.dense->gate, value(t, p + "mlp.gate_proj.weight")));
      CHECK(decodes_to(l.dense->up, value(t, p + "mlp.up_proj.weight")));
      CHECK(decodes_to(l.dense->down, value(t, p + "mlp.down_proj.weight")));
      continue;
    }
    CHECK_FALSE(l.dense.has_value());
    REQUIRE(l.router.has_value());
    REQUIRE(l.router_bias.has_value());
    CHECK(decodes_to(*l.router, value(t, p + "mlp.gate.weight")));
    REQUIRE(l.experts.size() == static_cast<std::size_t>(c.n_routed_experts));
    for (int e = 0; e < c.n_routed_experts; ++e) {
      const std::string ep = p + "mlp.experts." + std::to_string(e) + ".";
      CHECK(decodes_to(l.experts[e].gate, value(t, ep + "gate_proj.weight")));
      CHECK(decodes_to(l.experts[e].up, value(t, ep + "up_proj.weight")));
      CHECK(decodes_to(l.experts[e].down, value(t, ep + "down_proj.weight")));
    }
  }
}

TEST_CASE("bf16 checkpoint with separate q/k/v binds zero-copy") {
  testing::TempDir dir;
  auto tiny = testing::write_tiny_checkpoint(dir.path(), testing::tiny_config_json());
  io::Checkpoint checkpoint = io::Checkpoint::open(dir.path());
  ModelConfig config = load_model_config(dir.path());
  ModelWeights w = bind_weights(config, checkpoint);
  check_all_weights(tiny, w);
  const auto& q = checkpoint.get("model.layers.1.self_attn.q_proj.weight");
  CHECK(w.layers[1].q.data == reinterpret_cast<const std::uint8_t*>(q.data));
  CHECK(w.layers[1].q.format == WeightFormat::kBF16);
  CHECK(w.layers[1].q.stored_bytes() == 128 * 64 * 2);
  CHECK(w.layers[1].router->format == WeightFormat::kBF16);
  CHECK(w.layers[1].router_bias->dtype == io::DType::kF32);
  CHECK(w.layers[0].sink.has_value() == false);  // full-attention layer
  CHECK(w.layers[1].sink->size == 4);
  CHECK(w.final_norm.size == 64);
  CHECK(w.skipped.empty());
}

TEST_CASE("fp8 checkpoint with fused qkv: row slices share the block scales") {
  testing::TempDir dir;
  TinyCheckpointOptions options;
  options.precision = TinyPrecision::kFp8;
  options.fused_qkv = true;
  options.fp8_block = 16;  // several scale blocks per matrix
  options.shards = 3;
  auto tiny =
      testing::write_tiny_checkpoint(dir.path(), testing::tiny_config_json("mimo_v2"), options);
  REQUIRE(tiny.config.fused_qkv);
  io::Checkpoint checkpoint = io::Checkpoint::open(dir.path());
  REQUIRE(checkpoint.shards().size() == 3);
  ModelWeights w = bind_weights(tiny.config, checkpoint);
  check_all_weights(tiny, w);
  const LayerWeights& sliding = w.layers[1];  // 4 q heads, 4 kv heads: q 128, k 128, v 64 rows
  CHECK(sliding.q.format == WeightFormat::kFp8Block);
  CHECK(sliding.q.row_offset == 0);
  CHECK(sliding.k.row_offset == 128);
  CHECK(sliding.v.row_offset == 256);
  CHECK(sliding.q.data == sliding.v.data);
  CHECK(sliding.q.scales == sliding.k.scales);
  CHECK(sliding.q.scale_cols == 4);
  CHECK(sliding.q.block_rows == 16);
  // values 128 x 64 bytes + 8 block rows x 4 block cols of F32 scales
  CHECK(sliding.q.stored_bytes() == 128 * 64 + 8 * 4 * 4);
  CHECK(sliding.v.stored_bytes() == 64 * 64 + 4 * 4 * 4);
  CHECK(sliding.experts[0].down.format == WeightFormat::kFp8Block);
  CHECK(sliding.router->format == WeightFormat::kF32);
  CHECK(w.embed.format == WeightFormat::kBF16);
}

TEST_CASE("fp8 slices that share a boundary scale block count it in stored_bytes") {
  LinearWeight w;
  w.format = WeightFormat::kFp8Block;
  w.rows = 100;
  w.cols = 256;
  w.row_offset = 200;  // rows 200..299 touch blocks 1 and 2
  w.row_stride_bytes = 256;
  w.scale_cols = 2;
  w.scale_dtype = io::DType::kBF16;
  CHECK(w.stored_bytes() == 100 * 256 + 2 * 2 * 2);
  w.row_offset = 0;
  CHECK(w.stored_bytes() == 100 * 256 + 1 * 2 * 2);
}

TEST_CASE("mxfp4 experts: per-expert tensors and the gpt-oss stacked layout") {
  for (TinyExpertLayout layout : {TinyExpertLayout::kPerExpert, TinyExpertLayout::kStacked}) {
    INFO("stacked " << (layout == TinyExpertLayout::kStacked));
    testing::TempDir dir;
    TinyCheckpointOptions options;
    options.precision = TinyPrecision::kMxfp4Experts;
    options.expert_layout = layout;
    options.seed = 7;
    auto tiny = testing::write_tiny_checkpoint(dir.path(), testing::tiny_config_json(), options);
    io::Checkpoint checkpoint = io::Checkpoint::open(dir.path());
    ModelWeights w = bind_weights(tiny.config, checkpoint);
    check_all_weights(tiny, w);
    const ExpertWeights& e = w.layers[2].experts[5];
    CHECK(e.gate.format == WeightFormat::kMxfp4);
    CHECK(e.down.rows == 64);
    CHECK(e.down.cols == 32);
    CHECK(e.gate.stored_bytes() == 32 * 64 / 2 + 32 * 64 / 32);
    CHECK(w.layers[2].q.format == WeightFormat::kBF16);
    if (layout == TinyExpertLayout::kStacked) {
      const auto& blocks = checkpoint.get("model.layers.2.mlp.experts.gate_proj_blocks");
      CHECK(e.gate.data == reinterpret_cast<const std::uint8_t*>(blocks.data) + 5 * 32 * 32);
      CHECK(e.gate.name == "model.layers.2.mlp.experts.gate_proj_blocks[5]");
    }
  }
  CHECK(expert_layouts().size() >= 2);
}

TEST_CASE("model.mtp tensors are skipped and listed") {
  testing::TempDir dir;
  TinyCheckpointOptions options;
  options.with_mtp = true;
  auto tiny = testing::write_tiny_checkpoint(dir.path(), testing::tiny_config_json(), options);
  io::Checkpoint checkpoint = io::Checkpoint::open(dir.path());
  ModelWeights w = bind_weights(tiny.config, checkpoint);
  CHECK(w.skipped == std::vector<std::string>{"model.mtp.layers.0.eh_proj.weight",
                                              "model.mtp.layers.0.enorm.weight"});
}

TEST_CASE("tied embeddings reuse the embedding as lm_head") {
  testing::TempDir dir;
  json config = testing::tiny_config_json();
  config["tie_word_embeddings"] = true;
  auto tiny = testing::write_tiny_checkpoint(dir.path(), config);
  io::Checkpoint checkpoint = io::Checkpoint::open(dir.path());
  ModelWeights w = bind_weights(tiny.config, checkpoint);
  CHECK(w.lm_head.data == w.embed.data);
  CHECK(decodes_to(w.lm_head, value(tiny, "model.embed_tokens.weight")));
}

// Copies the checkpoint in `from` into `to`/model.safetensors, dropping `drop` and letting
// `extra` add tensors.
void rewrite(const std::string& from, const std::string& to, const std::string& drop,
             const std::function<void(io::SafetensorsWriter&)>& extra = {}) {
  io::Checkpoint source = io::Checkpoint::open(from);
  io::SafetensorsWriter writer;
  for (const auto& [name, view] : source.tensors()) {
    if (name == drop) continue;
    writer.add(name, view->dtype, view->shape,
               std::span<const std::byte>(view->data, view->nbytes));
  }
  if (extra) extra(writer);
  std::filesystem::create_directories(to);
  writer.write(to + "/model.safetensors");
}

TEST_CASE("binding errors name the tensor, the expected and the found shape") {
  testing::TempDir dir;
  TinyCheckpointOptions options;
  options.precision = TinyPrecision::kFp8;
  auto tiny = testing::write_tiny_checkpoint(dir.path(), testing::tiny_config_json(), options);
  io::Checkpoint checkpoint = io::Checkpoint::open(dir.path());
  auto bind_rewritten = [&](const testing::TempDir& other) {
    io::Checkpoint rewritten = io::Checkpoint::open(other.path());
    bind_weights(tiny.config, rewritten);
  };

  SECTION("wrong shape") {
    ModelConfig config = tiny.config;
    config.intermediate_size = 128;
    require_error([&] { bind_weights(config, checkpoint); }, ErrorCode::kInvalidFile,
                  {"model.layers.0.mlp.gate_proj.weight", "[64, 64]", "expected [128, 64]"});
  }
  SECTION("missing tensor") {
    ModelConfig config = tiny.config;
    config.layers[1].mlp = MlpKind::kDense;
    require_error([&] { bind_weights(config, checkpoint); }, ErrorCode::kInvalidFile,
                  {"missing tensor model.layers.1.mlp.gate_proj.weight", dir.path()});
  }
  SECTION("unexpected tensors") {
    ModelConfig config = tiny.config;
    config.sliding.has_sink = false;
    require_error([&] { bind_weights(config, checkpoint); }, ErrorCode::kInvalidFile,
                  {"unexpected tensor model.layers.1.self_attn.attention_sink_bias", "4 unused"});
  }
  SECTION("missing fp8 scale") {
    testing::TempDir other;
    rewrite(dir.path(), other.path(), "model.layers.3.self_attn.o_proj.weight_scale_inv");
    require_error([&] { bind_rewritten(other); }, ErrorCode::kInvalidFile,
                  {"missing tensor model.layers.3.self_attn.o_proj.weight_scale_inv"});
  }
  SECTION("stray tensor") {
    testing::TempDir other;
    rewrite(dir.path(), other.path(), "", [](io::SafetensorsWriter& w) {
      std::vector<std::byte> bytes(8 * 2, std::byte{0x3f});
      w.add("model.layers.0.self_attn.q_norm.weight", io::DType::kBF16, {8}, bytes);
    });
    require_error([&] { bind_rewritten(other); }, ErrorCode::kInvalidFile,
                  {"unexpected tensor model.layers.0.self_attn.q_norm.weight"});
  }
  SECTION("unsupported dtype") {
    testing::TempDir other;
    const std::string name = "model.layers.0.input_layernorm.weight";
    rewrite(dir.path(), other.path(), name, [&](io::SafetensorsWriter& w) {
      std::vector<std::byte> bytes(64 * 4, std::byte{0x01});
      w.add(name, io::DType::kI32, {64}, bytes);
    });
    require_error([&] { bind_rewritten(other); }, ErrorCode::kUnsupported, {name, "I32"});
  }
  SECTION("wrong scale grid") {
    testing::TempDir other;
    const std::string name = "model.layers.0.mlp.down_proj.weight_scale_inv";
    rewrite(dir.path(), other.path(), name, [&](io::SafetensorsWriter& w) {
      std::vector<float> scales(2, 0.5f);
      w.add(name, io::DType::kF32, {1, 2}, std::as_bytes(std::span<const float>(scales)));
    });
    require_error([&] { bind_rewritten(other); }, ErrorCode::kInvalidFile,
                  {name, "[1, 2]", "expected [1, 1]"});
  }
  SECTION("no expert weights under any known naming") {
    testing::TempDir other;
    rewrite(dir.path(), other.path(), "model.layers.4.mlp.experts.0.gate_proj.weight");
    require_error([&] { bind_rewritten(other); }, ErrorCode::kInvalidFile,
                  {"missing expert weights", "model.layers.4.mlp.experts.0.gate_proj.weight",
                   "model.layers.4.mlp.experts.gate_proj_blocks"});
  }
}

// Copies the checkpoint in `from` into `to` with element `index` of tensor `name` replaced by
// the bytes of `value` (of the tensor's element size).
template <typename T>
void rewrite_element(const std::string& from, const std::string& to, const std::string& name,
                     std::size_t index, T value) {
  io::Checkpoint source = io::Checkpoint::open(from);
  const io::TensorView& t = source.get(name);
  REQUIRE(io::dtype_size(t.dtype) == sizeof(T));
  std::vector<std::byte> bytes(t.data, t.data + t.nbytes);
  std::memcpy(bytes.data() + index * sizeof(T), &value, sizeof(T));
  rewrite(from, to, name, [&](io::SafetensorsWriter& w) { w.add(name, t.dtype, t.shape, bytes); });
}

TEST_CASE("negative and non-finite block scales are refused at load, naming the first one") {
  testing::TempDir dir;
  TinyCheckpointOptions options;
  options.precision = TinyPrecision::kFp8;
  options.fp8_block = 16;  // q_proj [128, 64] -> a [8, 4] scale grid
  auto tiny = testing::write_tiny_checkpoint(dir.path(), testing::tiny_config_json(), options);
  const std::string name = "model.layers.1.self_attn.q_proj.weight_scale_inv";
  auto bind_with = [&](float scale) {
    testing::TempDir other;
    rewrite_element(dir.path(), other.path(), name, 5, scale);
    io::Checkpoint rewritten = io::Checkpoint::open(other.path());
    return bind_weights(tiny.config, rewritten);
  };
  for (float bad : {-0.5f, std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::max()}) {
    INFO("scale " << bad);
    require_error([&] { bind_with(bad); }, ErrorCode::kInvalidFile,
                  {name, "index 5 [1, 1]", "finite and not negative"});
  }
  // An all-zero block quantizes to scale 0: that (and -0) must still load.
  CHECK(bind_with(0.0f).layers[1].q.format == WeightFormat::kFp8Block);
  CHECK(bind_with(-0.0f).layers[1].q.format == WeightFormat::kFp8Block);
}

TEST_CASE("an MXFP4 scale of 0xFF (E8M0 NaN) is refused in both expert layouts") {
  for (TinyExpertLayout layout : {TinyExpertLayout::kPerExpert, TinyExpertLayout::kStacked}) {
    const bool stacked = layout == TinyExpertLayout::kStacked;
    INFO("stacked " << stacked);
    testing::TempDir dir;
    TinyCheckpointOptions options;
    options.precision = TinyPrecision::kMxfp4Experts;
    options.expert_layout = layout;
    auto tiny = testing::write_tiny_checkpoint(dir.path(), testing::tiny_config_json(), options);
    const std::string name = stacked ? "model.layers.3.mlp.experts.gate_proj_scales"
                                     : "model.layers.3.mlp.experts.6.gate_proj.weight_scale";
    testing::TempDir other;
    rewrite_element(dir.path(), other.path(), name, 3, std::uint8_t{0xFF});
    io::Checkpoint rewritten = io::Checkpoint::open(other.path());
    require_error([&] { bind_weights(tiny.config, rewritten); }, ErrorCode::kInvalidFile,
                  {name, stacked ? "index 3 [0, 1, 1]" : "index 3 [1, 1]", "nan"});
    // 0xFE (2^127) is large but a legal scale.
    testing::TempDir legal;
    rewrite_element(dir.path(), legal.path(), name, 3, std::uint8_t{0xFE});
    io::Checkpoint big = io::Checkpoint::open(legal.path());
    CHECK(bind_weights(tiny.config, big).layers[3].experts[6].gate.format == WeightFormat::kMxfp4);
  }
}

TEST_CASE("a NaN or infinity in the MoE router is refused at load, naming the element") {
  // The router's sigmoid saturates an infinity and its selection bias never reaches the output:
  // both used to change which experts ran while the logits stayed finite.
  testing::TempDir dir;
  auto tiny = testing::write_tiny_checkpoint(dir.path(), testing::tiny_config_json());
  io::Checkpoint source = io::Checkpoint::open(dir.path());
  for (const char* name :
       {"model.layers.2.mlp.gate.weight", "model.layers.2.mlp.gate.e_score_correction_bias"}) {
    const bool f32 = source.get(name).dtype == io::DType::kF32;
    for (const bool nan : {true, false}) {
      INFO(name << (nan ? " NaN" : " -inf"));
      testing::TempDir other;
      if (f32) {
        rewrite_element(dir.path(), other.path(), name, 5,
                        nan ? std::numeric_limits<float>::quiet_NaN()
                            : -std::numeric_limits<float>::infinity());
      } else {
        rewrite_element(dir.path(), other.path(), name, 5, std::uint16_t{nan ? 0x7FC0u : 0xFF80u});
      }
      io::Checkpoint rewritten = io::Checkpoint::open(other.path());
      require_error([&] { bind_weights(tiny.config, rewritten); }, ErrorCode::kInvalidFile,
                    {name, "element 5", "not finite"});
    }
  }
}

}  // namespace
}  // namespace mimo::model
