// config.json -> ModelConfig for both MiMo-V2 schemas. Both key vocabularies are read whatever
// model_type says (Xiaomi's Flash release ships hub keys under model_type "mimo_v2_flash"); the
// schema only picks defaults for keys that are absent, which follow transformers 5.17's
// MiMoV2FlashConfig (docs/MIMO.md).
#include "model/config_parse.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/strict_json.hpp"
#include "model/json_fields.hpp"
#include "model/rope_table.hpp"

namespace mimo::model {

namespace {

constexpr const char* kFlashArchitecture = "MiMoV2FlashForCausalLM";
constexpr const char* kHubArchitecture = "MiMoV2ForCausalLM";

void detect_schema(const JsonFields& f, ModelConfig& c) {
  std::optional<std::string> model_type = f.opt_string("model_type");
  std::optional<std::vector<std::string>> architectures = f.opt_string_list("architectures");
  std::string architecture =
      architectures && !architectures->empty() ? architectures->front() : std::string();
  if (!architecture.empty() && architecture != kFlashArchitecture &&
      architecture != kHubArchitecture) {
    f.fail(ErrorCode::kUnsupported, "architectures",
           fmt::format("architecture '{}' is not supported (expected {} or {})", architecture,
                       kFlashArchitecture, kHubArchitecture));
  }
  if (model_type) {
    if (*model_type != "mimo_v2_flash" && *model_type != "mimo_v2") {
      f.fail(ErrorCode::kUnsupported, "model_type",
             fmt::format("model_type '{}' is not a MiMo-V2 model (expected mimo_v2_flash or "
                         "mimo_v2)",
                         *model_type));
    }
    c.schema = *model_type;
  } else if (!architecture.empty()) {
    c.schema = architecture == kFlashArchitecture ? "mimo_v2_flash" : "mimo_v2";
  } else {
    f.fail(ErrorCode::kUnsupported, "model_type",
           "missing, and no 'architectures' to tell the model family");
  }
  if (architecture.empty()) {
    architecture = c.schema == "mimo_v2_flash" ? kFlashArchitecture : kHubArchitecture;
  }
  c.architecture = architecture;
}

void check_layer_count(const JsonFields& f, std::string_view key, std::size_t found, int layers) {
  if (found != static_cast<std::size_t>(layers)) {
    f.fail(ErrorCode::kInvalidFile, key,
           fmt::format("has {} entries but num_hidden_layers is {}", found, layers));
  }
}

std::vector<AttentionKind> attention_pattern(const JsonFields& f, int layers) {
  std::optional<std::vector<AttentionKind>> from_types;
  if (auto types = f.opt_string_list("layer_types")) {
    check_layer_count(f, "layer_types", types->size(), layers);
    from_types.emplace();
    for (std::size_t i = 0; i < types->size(); ++i) {
      const std::string& type = (*types)[i];
      if (type == "full_attention") {
        from_types->push_back(AttentionKind::kFull);
      } else if (type == "sliding_attention") {
        from_types->push_back(AttentionKind::kSliding);
      } else {
        f.fail(ErrorCode::kUnsupported, fmt::format("layer_types[{}]", i),
               fmt::format("layer type '{}' (expected full_attention or sliding_attention)", type));
      }
    }
  }
  std::optional<std::vector<AttentionKind>> from_hybrid;
  if (auto pattern = f.opt_int_list("hybrid_layer_pattern")) {
    check_layer_count(f, "hybrid_layer_pattern", pattern->size(), layers);
    from_hybrid.emplace();
    for (std::size_t i = 0; i < pattern->size(); ++i) {
      int value = (*pattern)[i];
      if (value != 0 && value != 1) {
        f.fail(ErrorCode::kInvalidFile, fmt::format("hybrid_layer_pattern[{}]", i),
               fmt::format("{} (expected 0 = full attention or 1 = sliding)", value));
      }
      from_hybrid->push_back(value == 0 ? AttentionKind::kFull : AttentionKind::kSliding);
    }
  }
  if (from_types && from_hybrid && *from_types != *from_hybrid) {
    f.fail(ErrorCode::kInvalidFile, "hybrid_layer_pattern", "disagrees with layer_types");
  }
  if (from_types) return *from_types;
  if (from_hybrid) return *from_hybrid;
  std::vector<AttentionKind> pattern;
  for (int i = 0; i < layers; ++i) {
    pattern.push_back(i == 0 || (i + 1) % 6 == 0 ? AttentionKind::kFull : AttentionKind::kSliding);
  }
  return pattern;
}

std::vector<MlpKind> mlp_pattern(const JsonFields& f, int layers) {
  std::optional<std::vector<MlpKind>> from_types;
  if (auto types = f.opt_string_list("mlp_layer_types")) {
    check_layer_count(f, "mlp_layer_types", types->size(), layers);
    from_types.emplace();
    for (std::size_t i = 0; i < types->size(); ++i) {
      const std::string& type = (*types)[i];
      if (type == "dense") {
        from_types->push_back(MlpKind::kDense);
      } else if (type == "sparse") {
        from_types->push_back(MlpKind::kMoe);
      } else {
        f.fail(ErrorCode::kUnsupported, fmt::format("mlp_layer_types[{}]", i),
               fmt::format("MLP type '{}' (expected dense or sparse)", type));
      }
    }
  }
  std::optional<std::vector<MlpKind>> from_freq;
  if (const nlohmann::json* freq = f.find("moe_layer_freq")) {
    from_freq.emplace();
    if (freq->is_array()) {
      std::vector<int> flags = *f.opt_int_list("moe_layer_freq");
      check_layer_count(f, "moe_layer_freq", flags.size(), layers);
      for (std::size_t i = 0; i < flags.size(); ++i) {
        if (flags[i] != 0 && flags[i] != 1) {
          f.fail(ErrorCode::kInvalidFile, fmt::format("moe_layer_freq[{}]", i),
                 fmt::format("{} (expected 0 = dense or 1 = MoE)", flags[i]));
        }
        from_freq->push_back(flags[i] == 1 ? MlpKind::kMoe : MlpKind::kDense);
      }
    } else {
      // An integer k (Megatron / DeepSeek): layer i is MoE when i % k == 0, after the first
      // `first_k_dense_replace` dense layers.
      int every = *f.opt_int("moe_layer_freq");
      if (every <= 0) f.fail(ErrorCode::kInvalidFile, "moe_layer_freq", "must be positive");
      int first_dense = f.get_int("first_k_dense_replace", 0);
      for (int i = 0; i < layers; ++i) {
        from_freq->push_back(i >= first_dense && i % every == 0 ? MlpKind::kMoe : MlpKind::kDense);
      }
    }
  }
  if (from_types && from_freq && *from_types != *from_freq) {
    f.fail(ErrorCode::kInvalidFile, "moe_layer_freq", "disagrees with mlp_layer_types");
  }
  if (from_types) return *from_types;
  if (from_freq) return *from_freq;
  std::vector<MlpKind> pattern(static_cast<std::size_t>(layers), MlpKind::kMoe);
  if (layers > 0) pattern[0] = MlpKind::kDense;
  return pattern;
}

struct RopeSetting {
  std::optional<double> theta;
  std::optional<double> factor;
};

RopeSetting read_rope_object(const JsonFields& rope) {
  if (auto type = rope.opt_string("rope_type"); type && *type != "default") {
    rope.fail(ErrorCode::kUnsupported, "rope_type",
              fmt::format("RoPE type '{}' (only default RoPE is implemented)", *type));
  }
  return {rope.opt_double("rope_theta"), rope.opt_double("partial_rotary_factor")};
}

// Per layer type, most specific first: rope_parameters.<type>, the hub's swa_* keys (sliding),
// a flat rope_parameters, top-level rope_theta / partial_rotary_factor, the Flash defaults.
void read_rope(const JsonFields& f, ModelConfig& c) {
  if (const nlohmann::json* scaling = f.find("rope_scaling")) {
    JsonFields s = *f.opt_object("rope_scaling");
    std::string type = s.opt_string("rope_type").value_or(s.opt_string("type").value_or("default"));
    if (type != "default") {
      f.fail(ErrorCode::kUnsupported, "rope_scaling",
             fmt::format("RoPE scaling {} is not supported (only plain RoPE)", scaling->dump()));
    }
  }
  RopeSetting flat, full, sliding;
  if (auto params = f.opt_object("rope_parameters")) {
    auto nested_full = params->opt_object("full_attention");
    auto nested_sliding = params->opt_object("sliding_attention");
    if (nested_full) full = read_rope_object(*nested_full);
    if (nested_sliding) sliding = read_rope_object(*nested_sliding);
    if (!nested_full && !nested_sliding) flat = read_rope_object(*params);
  }
  RopeSetting top{f.opt_double("rope_theta"), f.opt_double("partial_rotary_factor")};
  RopeSetting swa{f.opt_double("swa_rope_theta"), f.opt_double("swa_partial_rotary_factor")};

  auto finish = [&](AttentionSpec& spec, const RopeSetting& first, const RopeSetting& second,
                    double default_theta, const char* label) {
    double theta = first.theta.value_or(
        second.theta.value_or(flat.theta.value_or(top.theta.value_or(default_theta))));
    double factor = first.factor.value_or(
        second.factor.value_or(flat.factor.value_or(top.factor.value_or(0.334))));
    if (const std::string problem = positive_float32_problem(theta); !problem.empty()) {
      f.fail(ErrorCode::kInvalidFile, "rope_parameters",
             fmt::format("{} rope_theta {}", label, problem));
    }
    if (!(factor > 0.0 && factor <= 1.0)) {
      f.fail(ErrorCode::kInvalidFile, "partial_rotary_factor",
             fmt::format("{} partial_rotary_factor {} must be in (0, 1]", label, factor));
    }
    spec.rope_theta = theta;
    // Python int(): truncation of the double product, as transformers computes it; an odd d
    // rotates d + 1 dims (model/rope_table.hpp).
    const int d = static_cast<int>(spec.head_dim * factor);
    spec.rope_dim = d;
    spec.rotary_dim = rope_rotary_dim(d);
    if (d < 1 || spec.rotary_dim > spec.head_dim) {
      f.fail(ErrorCode::kUnsupported, "partial_rotary_factor",
             fmt::format("{} rotary dim int({} * {}) = {} rotates {} dims: expected 1 .. "
                         "head_dim",
                         label, spec.head_dim, factor, d, spec.rotary_dim));
    }
  };
  finish(c.full, full, RopeSetting{}, 5'000'000.0, "full-attention");
  finish(c.sliding, sliding, swa, 10'000.0, "sliding-attention");
}

std::optional<QuantizationSpec> read_quantization(const JsonFields& f) {
  std::optional<JsonFields> q = f.opt_object("quantization_config");
  if (!q) return std::nullopt;
  QuantizationSpec spec;
  std::optional<std::string> method = q->opt_string("quant_method");
  if (!method) q->fail(ErrorCode::kInvalidFile, "quant_method", "missing");
  spec.method = *method;
  if (spec.method != "fp8" && spec.method != "mxfp4" && spec.method != "mixed") {
    q->fail(ErrorCode::kUnsupported, "quant_method",
            fmt::format("'{}' (supported: fp8, mxfp4, mixed)", spec.method));
  }
  if (spec.method != "mxfp4") {
    spec.fmt = q->opt_string("fmt").value_or("e4m3");
    if (spec.fmt != "e4m3") {
      q->fail(ErrorCode::kUnsupported, "fmt", fmt::format("'{}' (only e4m3 FP8)", spec.fmt));
    }
    spec.weight_block_size = q->opt_int_list("weight_block_size").value_or(std::vector{128, 128});
    if (spec.weight_block_size.size() != 2 || spec.weight_block_size[0] <= 0 ||
        spec.weight_block_size[1] <= 0) {
      q->fail(ErrorCode::kInvalidFile, "weight_block_size",
              "expected two positive integers [rows, cols]");
    }
    spec.activation_scheme = q->opt_string("activation_scheme").value_or("dynamic");
    if (spec.activation_scheme != "dynamic") {
      q->fail(ErrorCode::kUnsupported, "activation_scheme",
              fmt::format("'{}' (only dynamic activation scaling)", spec.activation_scheme));
    }
  }
  if (auto store = q->opt_string("store_dtype")) {
    if (*store != "mxfp4") {
      q->fail(ErrorCode::kUnsupported, "store_dtype", fmt::format("'{}' (only mxfp4)", *store));
    }
    spec.store_dtype = *store;
    spec.mxfp4_block_size = q->get_int("mxfp4_block_size", 32);
    if (spec.mxfp4_block_size != 32) {
      q->fail(ErrorCode::kUnsupported, "mxfp4_block_size",
              fmt::format("{} (MXFP4 blocks are 32 values)", spec.mxfp4_block_size));
    }
  }
  for (const char* key : {"ignored_layers", "modules_to_not_convert"}) {
    if (auto names = q->opt_string_list(key)) {
      spec.ignored.insert(spec.ignored.end(), names->begin(), names->end());
    }
  }
  return spec;
}

void reject_unsupported(const JsonFields& f) {
  if (f.get_bool("attention_bias", false)) {
    f.fail(ErrorCode::kUnsupported, "attention_bias", "attention projection biases");
  }
  if (auto act = f.opt_string("hidden_act"); act && *act != "silu") {
    f.fail(ErrorCode::kUnsupported, "hidden_act", fmt::format("'{}' (only silu)", *act));
  }
  if (auto scoring = f.opt_string("scoring_func"); scoring && *scoring != "sigmoid") {
    f.fail(ErrorCode::kUnsupported, "scoring_func",
           fmt::format("'{}' (only sigmoid routing)", *scoring));
  }
  if (auto method = f.opt_string("topk_method"); method && *method != "noaux_tc") {
    f.fail(ErrorCode::kUnsupported, "topk_method", fmt::format("'{}' (only noaux_tc)", *method));
  }
  if (f.get_int("n_shared_experts", 0) > 0) {
    f.fail(ErrorCode::kUnsupported, "n_shared_experts", "shared experts");
  }
}

int positive(const JsonFields& f, std::string_view key, int value) {
  if (value <= 0) {
    f.fail(ErrorCode::kInvalidFile, key, fmt::format("{} must be positive", value));
  }
  return value;
}

// Sizes that allocate per item are bounded, so a corrupt config fails instead of exhausting memory.
constexpr int kMaxLayers = 4096;
constexpr int kMaxExperts = 1 << 16;
constexpr int kMaxHeads = 1 << 16;
constexpr int kMaxHeadDim = 1 << 16;

int bounded(const JsonFields& f, std::string_view key, int value, int limit) {
  if (positive(f, key, value) > limit) {
    f.fail(ErrorCode::kInvalidFile, key, fmt::format("{} exceeds the limit {}", value, limit));
  }
  return value;
}

AttentionSpec read_attention(const JsonFields& f, const char* heads_key, const char* kv_key,
                             const char* head_dim_key, const char* v_dim_key, int kv_default,
                             int heads_default, int head_dim_default, int v_dim_default) {
  AttentionSpec spec;
  spec.num_heads = bounded(f, heads_key, f.get_int(heads_key, heads_default), kMaxHeads);
  spec.num_kv_heads = bounded(f, kv_key, f.get_int(kv_key, kv_default), kMaxHeads);
  spec.head_dim = bounded(f, head_dim_key, f.get_int(head_dim_key, head_dim_default), kMaxHeadDim);
  spec.v_head_dim = bounded(f, v_dim_key, f.get_int(v_dim_key, v_dim_default), kMaxHeadDim);
  if (spec.num_heads % spec.num_kv_heads != 0) {
    f.fail(ErrorCode::kInvalidFile, kv_key,
           fmt::format("{} attention heads are not a multiple of {} key/value heads",
                       spec.num_heads, spec.num_kv_heads));
  }
  return spec;
}

void read_moe(const JsonFields& f, ModelConfig& c) {
  c.moe_intermediate_size =
      positive(f, "moe_intermediate_size", f.get_int("moe_intermediate_size", 2048));
  int experts = f.opt_int("n_routed_experts").value_or(f.get_int("num_local_experts", 256));
  c.n_routed_experts = bounded(f, "n_routed_experts", experts, kMaxExperts);
  c.num_experts_per_tok = positive(f, "num_experts_per_tok", f.get_int("num_experts_per_tok", 8));
  c.n_group = positive(f, "n_group", f.get_int("n_group", 1));
  c.topk_group = positive(f, "topk_group", f.get_int("topk_group", 1));
  if (c.num_experts_per_tok > c.n_routed_experts) {
    f.fail(ErrorCode::kInvalidFile, "num_experts_per_tok",
           fmt::format("top-{} exceeds the {} routed experts", c.num_experts_per_tok,
                       c.n_routed_experts));
  }
  if (c.n_routed_experts % c.n_group != 0) {
    f.fail(
        ErrorCode::kInvalidFile, "n_group",
        fmt::format("{} experts do not split into {} equal groups", c.n_routed_experts, c.n_group));
  }
  if (c.topk_group > c.n_group) {
    f.fail(ErrorCode::kInvalidFile, "topk_group",
           fmt::format("{} exceeds n_group {}", c.topk_group, c.n_group));
  }
  int per_group = c.n_routed_experts / c.n_group;
  if (c.n_group > 1 && per_group < 2) {
    f.fail(ErrorCode::kInvalidFile, "n_group",
           "groups need at least 2 experts (a group scores by its top 2)");
  }
  if (c.topk_group * per_group < c.num_experts_per_tok) {
    f.fail(ErrorCode::kInvalidFile, "topk_group",
           fmt::format("{} kept groups of {} experts cannot supply top-{}", c.topk_group, per_group,
                       c.num_experts_per_tok));
  }
  c.norm_topk_prob = f.get_bool("norm_topk_prob", true);
  c.routed_scaling_factor = f.get_double("routed_scaling_factor", 1.0);
  if (const std::string problem = positive_float32_problem(c.routed_scaling_factor);
      !problem.empty()) {
    f.fail(ErrorCode::kInvalidFile, "routed_scaling_factor", problem);
  }
}

void read_special_tokens(const JsonFields& f, ModelConfig& c) {
  c.bos_token_id = f.opt_int("bos_token_id");
  if (const nlohmann::json* eos = f.find("eos_token_id")) {
    if (eos->is_array()) {
      c.eos_token_ids = *f.opt_int_list("eos_token_id");
    } else {
      c.eos_token_ids = {*f.opt_int("eos_token_id")};
    }
  }
  for (int id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) {
      f.fail(ErrorCode::kInvalidFile, "eos_token_id",
             fmt::format("token {} outside the vocabulary of {}", id, c.vocab_size));
    }
  }
}

}  // namespace

ModelConfig parse_model_config(const nlohmann::json& config, const std::string& label) {
  JsonFields f(config, label);
  ModelConfig c;
  detect_schema(f, c);
  reject_unsupported(f);
  const bool hub = c.schema == "mimo_v2";

  c.vocab_size = positive(f, "vocab_size", f.get_int("vocab_size", 152576));
  c.hidden_size = positive(f, "hidden_size", f.get_int("hidden_size", 4096));
  c.num_layers = bounded(f, "num_hidden_layers", f.get_int("num_hidden_layers", 48), kMaxLayers);
  c.max_position_embeddings =
      positive(f, "max_position_embeddings", f.get_int("max_position_embeddings", 131072));

  std::vector<AttentionKind> attention = attention_pattern(f, c.num_layers);
  std::vector<MlpKind> mlp = mlp_pattern(f, c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) c.layers.push_back({attention[i], mlp[i]});

  c.full = read_attention(f, "num_attention_heads", "num_key_value_heads", "head_dim", "v_head_dim",
                          4, 64, 192, 128);
  // transformers' Flash model gives sliding layers twice the kv heads; the hub schema states
  // every sliding-layer size in swa_* keys.
  if (hub && !f.has("swa_num_key_value_heads") &&
      std::find(attention.begin(), attention.end(), AttentionKind::kSliding) != attention.end()) {
    f.fail(ErrorCode::kInvalidFile, "swa_num_key_value_heads",
           "missing (the mimo_v2 schema sizes sliding-attention layers separately)");
  }
  c.sliding = read_attention(f, "swa_num_attention_heads", "swa_num_key_value_heads",
                             "swa_head_dim", "swa_v_head_dim", 2 * c.full.num_kv_heads,
                             c.full.num_heads, c.full.head_dim, c.full.v_head_dim);
  c.full.has_sink = f.get_bool("add_full_attention_sink_bias", false);
  c.sliding.has_sink = f.get_bool("add_swa_attention_sink_bias", true);
  read_rope(f, c);

  c.sliding_window =
      positive(f, f.has("sliding_window") ? "sliding_window" : "sliding_window_size",
               f.opt_int("sliding_window").value_or(f.get_int("sliding_window_size", 128)));
  // Absent: the Flash default 0.707; null: no scaling (transformers maps None to 1.0).
  c.attention_value_scale =
      config.contains("attention_value_scale") ? f.get_double("attention_value_scale", 1.0) : 0.707;
  if (const std::string problem = positive_float32_problem(c.attention_value_scale);
      !problem.empty()) {
    f.fail(ErrorCode::kInvalidFile, "attention_value_scale", problem);
  }
  if (auto layout = f.opt_string("attention_projection_layout")) {
    if (*layout != "fused_qkv") {
      f.fail(ErrorCode::kUnsupported, "attention_projection_layout",
             fmt::format("'{}' (only fused_qkv, or absent for separate q/k/v)", *layout));
    }
    c.fused_qkv = true;
  }

  bool any_dense = std::find(mlp.begin(), mlp.end(), MlpKind::kDense) != mlp.end();
  bool any_moe = std::find(mlp.begin(), mlp.end(), MlpKind::kMoe) != mlp.end();
  int intermediate = f.get_int("intermediate_size", 16384);
  c.intermediate_size = any_dense ? positive(f, "intermediate_size", intermediate) : intermediate;
  if (any_moe) {
    read_moe(f, c);
  } else {
    c.moe_intermediate_size = f.get_int("moe_intermediate_size", 0);
    c.norm_topk_prob = f.get_bool("norm_topk_prob", true);
  }

  const char* eps_key = hub ? "layernorm_epsilon" : "rms_norm_eps";
  const char* eps_alias = hub ? "rms_norm_eps" : "layernorm_epsilon";
  c.rms_norm_eps = f.opt_double(eps_key).value_or(f.get_double(eps_alias, 1e-5));
  if (const std::string problem = positive_float32_problem(c.rms_norm_eps); !problem.empty()) {
    f.fail(ErrorCode::kInvalidFile, eps_key, problem);
  }
  c.tie_word_embeddings = f.get_bool("tie_word_embeddings", false);
  read_special_tokens(f, c);
  c.quantization = read_quantization(f);
  return c;
}

std::string config_json_path(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) return (p / "config.json").string();
  if (p.extension() == ".safetensors") return (p.parent_path() / "config.json").string();
  return p.string();
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, fmt::format("{}: cannot open for reading", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, fmt::format("{}: read failed", path));
  return io::parse_json_strict(text.str(), path);
}

ModelConfig load_model_config(const std::string& path) {
  std::string config_path = config_json_path(path);
  return parse_model_config(read_json_file(config_path), config_path);
}

}  // namespace mimo::model
