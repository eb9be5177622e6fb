// Tiny random MiMo-V2 checkpoints for tests (see tiny_checkpoint.hpp).
#include "model/tiny_checkpoint.hpp"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <random>
#include <span>

#include "io/safetensors_writer.hpp"
#include "model/config_parse.hpp"
#include "quant/block_formats.hpp"
#include "quant/codecs.hpp"

namespace mimo::testing {

namespace {

enum class Storage { kBF16, kF32, kFp8, kMxfp4 };

template <typename T>
std::span<const std::byte> as_bytes(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

class TinyWriter {
 public:
  TinyWriter(const model::ModelConfig& config, const TinyCheckpointOptions& options)
      : config_(config), options_(options), rng_(options.seed) {}

  TinyCheckpoint write(const std::string& dir) {
    const std::int64_t hidden = config_.hidden_size, vocab = config_.vocab_size;
    vector("model.embed_tokens.weight", {vocab, hidden}, uniform(vocab * hidden, 0.5f),
           Storage::kBF16);
    for (int i = 0; i < config_.num_layers; ++i) layer(i);
    vector("model.norm.weight", {hidden}, norm_weights(hidden), Storage::kBF16);
    if (!config_.tie_word_embeddings) {
      vector("lm_head.weight", {vocab, hidden}, uniform(vocab * hidden, 0.5f), Storage::kBF16);
    }
    if (options_.with_mtp) {
      vector("model.mtp.layers.0.enorm.weight", {hidden}, norm_weights(hidden), Storage::kBF16);
      linear("model.mtp.layers.0.eh_proj.weight", hidden, 2 * hidden, Storage::kBF16);
    }
    flush(dir);
    return {config_, std::move(values_)};
  }

 private:
  Storage dense_storage() const {
    return options_.precision == TinyPrecision::kFp8 ? Storage::kFp8 : Storage::kBF16;
  }
  Storage expert_storage() const {
    switch (options_.precision) {
      case TinyPrecision::kFp8:
        return Storage::kFp8;
      case TinyPrecision::kMxfp4Experts:
        return Storage::kMxfp4;
      default:
        return Storage::kBF16;
    }
  }

  std::vector<float> uniform(std::int64_t count, float bound) {
    std::uniform_real_distribution<float> dist(-bound, bound);
    std::vector<float> v(static_cast<std::size_t>(count));
    for (float& x : v) x = dist(rng_);
    return v;
  }
  std::vector<float> norm_weights(std::int64_t count) {
    std::vector<float> v = uniform(count, 0.2f);
    for (float& x : v) x += 1.0f;
    return v;
  }

  void add(const std::string& name, io::DType dtype, const std::vector<std::int64_t>& shape,
           std::span<const std::byte> bytes) {
    tensors_.push_back({name, dtype, shape, std::vector<std::byte>(bytes.begin(), bytes.end())});
  }

  // A plain tensor; records the values as stored.
  void vector(const std::string& name, const std::vector<std::int64_t>& shape,
              std::vector<float> values, Storage storage) {
    if (storage == Storage::kF32) {
      add(name, io::DType::kF32, shape, as_bytes(values));
    } else {
      std::vector<std::uint16_t> bits(values.size());
      for (std::size_t i = 0; i < values.size(); ++i) {
        bits[i] = quant::float_to_bf16(values[i]);
        values[i] = quant::bf16_to_float(bits[i]);
      }
      add(name, io::DType::kBF16, shape, as_bytes(bits));
    }
    values_[name] = std::move(values);
  }

  // Stores `values` ([rows, cols]) under `name` in `storage`; returns the stored floats.
  std::vector<float> store_matrix(const std::string& name, std::int64_t rows, std::int64_t cols,
                                  std::vector<float> values, Storage storage) {
    if (storage == Storage::kBF16 || storage == Storage::kF32) {
      vector(name, {rows, cols}, values, storage);
      return values_[name];
    }
    std::vector<float> stored(values.size());
    if (storage == Storage::kFp8) {
      const std::int64_t b = options_.fp8_block;
      std::vector<std::uint8_t> codes(values.size());
      std::vector<float> scales(
          static_cast<std::size_t>(((rows + b - 1) / b) * ((cols + b - 1) / b)));
      quant::quantize_fp8_block(values.data(), rows, cols, b, b, codes.data(), scales.data());
      quant::dequantize_fp8_block(codes.data(), scales.data(), rows, cols, b, b, stored.data());
      add(name, io::DType::kF8_E4M3, {rows, cols}, as_bytes(codes));
      add(name + "_scale_inv", io::DType::kF32, {(rows + b - 1) / b, (cols + b - 1) / b},
          as_bytes(scales));
    } else {
      std::vector<std::uint8_t> codes(values.size() / 2), scales(values.size() / 32);
      quant::quantize_mxfp4(values.data(), rows, cols, codes.data(), scales.data());
      quant::dequantize_mxfp4(codes.data(), scales.data(), rows, cols, stored.data());
      add(name, io::DType::kU8, {rows, cols / 2}, as_bytes(codes));
      add(name + "_scale", io::DType::kU8, {rows, cols / 32}, as_bytes(scales));
    }
    return stored;
  }

  void linear(const std::string& name, std::int64_t rows, std::int64_t cols, Storage storage) {
    std::vector<float> values = uniform(rows * cols, 1.0f / std::sqrt(static_cast<float>(cols)));
    values_[name] = store_matrix(name, rows, cols, std::move(values), storage);
  }

  void attention(int layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".self_attn.";
    const model::AttentionSpec& a = config_.attention(layer);
    const std::int64_t hidden = config_.hidden_size;
    const std::int64_t rows[3] = {std::int64_t{a.num_heads} * a.head_dim,
                                  std::int64_t{a.num_kv_heads} * a.head_dim,
                                  std::int64_t{a.num_kv_heads} * a.v_head_dim};
    const char* names[3] = {"q_proj.weight", "k_proj.weight", "v_proj.weight"};
    if (options_.fused_qkv) {
      const std::int64_t total = rows[0] + rows[1] + rows[2];
      std::vector<float> fused =
          uniform(total * hidden, 1.0f / std::sqrt(static_cast<float>(hidden)));
      std::vector<float> stored =
          store_matrix(p + "qkv_proj.weight", total, hidden, std::move(fused), dense_storage());
      values_.erase(p + "qkv_proj.weight");
      std::int64_t row = 0;
      for (int j = 0; j < 3; ++j) {
        values_[p + names[j]] = std::vector<float>(stored.begin() + row * hidden,
                                                   stored.begin() + (row + rows[j]) * hidden);
        row += rows[j];
      }
    } else {
      for (int j = 0; j < 3; ++j) linear(p + names[j], rows[j], hidden, dense_storage());
    }
    linear(p + "o_proj.weight", hidden, std::int64_t{a.num_heads} * a.v_head_dim, dense_storage());
    if (a.has_sink) {
      vector(p + "attention_sink_bias", {a.num_heads}, uniform(a.num_heads, 1.0f), Storage::kBF16);
    }
  }

  void stacked_experts(const std::string& prefix) {
    const std::int64_t n = config_.n_routed_experts;
    for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
      const bool down = std::string(proj) == "down_proj";
      const std::int64_t rows = down ? config_.hidden_size : config_.moe_intermediate_size;
      const std::int64_t cols = down ? config_.moe_intermediate_size : config_.hidden_size;
      std::vector<std::uint8_t> blocks, scales;
      for (std::int64_t e = 0; e < n; ++e) {
        std::vector<float> values =
            uniform(rows * cols, 1.0f / std::sqrt(static_cast<float>(cols)));
        std::vector<std::uint8_t> codes(values.size() / 2), s(values.size() / 32);
        quant::quantize_mxfp4(values.data(), rows, cols, codes.data(), s.data());
        quant::dequantize_mxfp4(codes.data(), s.data(), rows, cols, values.data());
        values_[prefix + std::to_string(e) + "." + proj + ".weight"] = std::move(values);
        blocks.insert(blocks.end(), codes.begin(), codes.end());
        scales.insert(scales.end(), s.begin(), s.end());
      }
      add(prefix + proj + "_blocks", io::DType::kU8, {n, rows, cols / 32, 16}, as_bytes(blocks));
      add(prefix + proj + "_scales", io::DType::kU8, {n, rows, cols / 32}, as_bytes(scales));
    }
  }

  void layer(int i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const std::int64_t hidden = config_.hidden_size;
    vector(p + "input_layernorm.weight", {hidden}, norm_weights(hidden), Storage::kBF16);
    vector(p + "post_attention_layernorm.weight", {hidden}, norm_weights(hidden), Storage::kBF16);
    attention(i);
    if (config_.layers[i].mlp == model::MlpKind::kDense) {
      const std::int64_t inter = config_.intermediate_size;
      linear(p + "mlp.gate_proj.weight", inter, hidden, dense_storage());
      linear(p + "mlp.up_proj.weight", inter, hidden, dense_storage());
      linear(p + "mlp.down_proj.weight", hidden, inter, dense_storage());
      return;
    }
    const std::int64_t n = config_.n_routed_experts, inter = config_.moe_intermediate_size;
    const Storage router =
        options_.precision == TinyPrecision::kFp8 ? Storage::kF32 : Storage::kBF16;
    vector(p + "mlp.gate.weight", {n, hidden}, uniform(n * hidden, 0.5f), router);
    vector(p + "mlp.gate.e_score_correction_bias", {n}, uniform(n, 0.1f), Storage::kF32);
    const std::string prefix = p + "mlp.experts.";
    if (options_.expert_layout == TinyExpertLayout::kStacked) {
      stacked_experts(prefix);
      return;
    }
    for (std::int64_t e = 0; e < n; ++e) {
      const std::string ep = prefix + std::to_string(e) + ".";
      linear(ep + "gate_proj.weight", inter, hidden, expert_storage());
      linear(ep + "up_proj.weight", inter, hidden, expert_storage());
      linear(ep + "down_proj.weight", hidden, inter, expert_storage());
    }
  }

  void flush(const std::string& dir) {
    const int shards = std::max(1, options_.shards);
    std::vector<io::SafetensorsWriter> writers(static_cast<std::size_t>(shards));
    std::map<std::string, std::string> weight_map;
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      const std::size_t shard = k * static_cast<std::size_t>(shards) / tensors_.size();
      const Tensor& t = tensors_[k];
      writers[shard].add(t.name, t.dtype, t.shape, t.bytes);
      weight_map[t.name] = shard_name(static_cast<int>(shard), shards);
    }
    for (int s = 0; s < shards; ++s) {
      writers[static_cast<std::size_t>(s)].write(dir + "/" + shard_name(s, shards));
    }
    if (shards > 1) io::write_index(dir, weight_map);
  }

  static std::string shard_name(int shard, int shards) {
    if (shards == 1) return "model.safetensors";
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", shard + 1, shards);
    return name;
  }

  struct Tensor {
    std::string name;
    io::DType dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> bytes;
  };

  const model::ModelConfig& config_;
  const TinyCheckpointOptions& options_;
  std::mt19937 rng_;
  std::vector<Tensor> tensors_;
  std::map<std::string, std::vector<float>> values_;
};

}  // namespace

nlohmann::json tiny_config_json(const std::string& schema) {
  nlohmann::json c = {
      {"model_type", schema},
      {"vocab_size", 96},
      {"hidden_size", 64},
      {"num_hidden_layers", 6},
      {"num_attention_heads", 4},
      {"num_key_value_heads", 2},
      {"head_dim", 32},
      {"v_head_dim", 16},
      {"intermediate_size", 64},
      {"moe_intermediate_size", 32},
      {"n_routed_experts", 8},
      {"num_experts_per_tok", 2},
      {"n_group", 2},
      {"topk_group", 1},
      {"norm_topk_prob", true},
      {"routed_scaling_factor", nullptr},
      {"sliding_window", 4},
      {"attention_value_scale", 0.707},
      {"max_position_embeddings", 256},
      {"tie_word_embeddings", false},
      {"hidden_act", "silu"},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
  };
  if (schema == "mimo_v2") {
    c["architectures"] = {"MiMoV2ForCausalLM"};
    c["hybrid_layer_pattern"] = {0, 1, 1, 1, 1, 0};
    c["moe_layer_freq"] = {0, 1, 1, 1, 1, 1};
    c["swa_num_attention_heads"] = 4;
    c["swa_num_key_value_heads"] = 4;
    c["swa_head_dim"] = 32;
    c["swa_v_head_dim"] = 16;
    c["rope_theta"] = 5000000.0;
    c["swa_rope_theta"] = 10000.0;
    c["partial_rotary_factor"] = 0.334;
    c["add_swa_attention_sink_bias"] = true;
    c["add_full_attention_sink_bias"] = false;
    c["layernorm_epsilon"] = 1e-5;
    c["scoring_func"] = "sigmoid";
    c["topk_method"] = "noaux_tc";
    c["n_shared_experts"] = nullptr;
  } else {
    c["architectures"] = {"MiMoV2FlashForCausalLM"};
    c["layer_types"] = {"full_attention",    "sliding_attention", "sliding_attention",
                        "sliding_attention", "sliding_attention", "full_attention"};
    c["mlp_layer_types"] = {"dense", "sparse", "sparse", "sparse", "sparse", "sparse"};
    c["rope_parameters"] = {
        {"full_attention",
         {{"rope_type", "default"}, {"rope_theta", 5000000.0}, {"partial_rotary_factor", 0.334}}},
        {"sliding_attention",
         {{"rope_type", "default"}, {"rope_theta", 10000.0}, {"partial_rotary_factor", 0.334}}}};
    c["rms_norm_eps"] = 1e-5;
  }
  return c;
}

TinyCheckpoint write_tiny_checkpoint(const std::string& dir, nlohmann::json config,
                                     const TinyCheckpointOptions& options) {
  if (options.fused_qkv) config["attention_projection_layout"] = "fused_qkv";
  if (options.precision == TinyPrecision::kFp8) {
    config["quantization_config"] = {{"quant_method", "fp8"},
                                     {"fmt", "e4m3"},
                                     {"activation_scheme", "dynamic"},
                                     {"weight_block_size", {options.fp8_block, options.fp8_block}}};
  } else if (options.precision == TinyPrecision::kMxfp4Experts) {
    config["quantization_config"] = {
        {"quant_method", "mxfp4"},
        {"modules_to_not_convert", {"self_attn", "mlp.gate", "lm_head"}}};
  }
  std::filesystem::create_directories(dir);
  const std::string config_path = dir + "/config.json";
  std::ofstream(config_path) << config.dump(2);
  model::ModelConfig parsed = model::parse_model_config(config, config_path);
  return TinyWriter(parsed, options).write(dir);
}

TempDir::TempDir() {
  std::random_device entropy;
  path_ = std::filesystem::temp_directory_path() /
          ("mimo_model_test_" + std::to_string(::getpid()) + "_" + std::to_string(entropy()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace mimo::testing
