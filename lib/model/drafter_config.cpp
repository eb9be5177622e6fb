// DFlash drafter config.json parsing (see drafter_config.hpp).
#include "model/drafter_config.hpp"

#include <fmt/format.h>

#include <cmath>

#include "model/config_parse.hpp"
#include "model/json_fields.hpp"
#include "model/rope_table.hpp"

namespace mimo::model {

namespace {

constexpr int kMaxDraftLayers = 1024;  // bounds per-layer allocations from a corrupt config
// transformers' DFlash assistant: DFlash keys at the top level, every layer sliding (window 2048)
// unless layer_types says otherwise.
constexpr const char* kMuseGlimmer = "MuseGlimmerAssistantModel";
constexpr int kMuseGlimmerWindow = 2048;

void reject_other_architectures(const JsonFields& f, DrafterConfig& d,
                                const std::optional<JsonFields>& dflash) {
  auto architectures = f.opt_string_list("architectures");
  d.architecture = architectures && !architectures->empty() ? architectures->front() : "";
  if (d.architecture == "DFlash2DraftModel" || f.has("conv_kernel_size") ||
      f.has("selector_rank")) {
    f.fail(ErrorCode::kUnsupported, "architectures",
           "DFlash2 drafters (dynamic convolution + candidate selector) are a different "
           "architecture");
  }
  if (d.architecture.empty() && f.opt_string("model_type") == "muse_glimmer_assistant") {
    d.architecture = kMuseGlimmer;
  }
  if (d.architecture == kMuseGlimmer) return;
  if (d.architecture.empty()) {
    if (!dflash) {
      f.fail(ErrorCode::kInvalidFile, "architectures",
             "missing, and no dflash_config: not a DFlash drafter config");
    }
    d.architecture = "DFlashDraftModel";
  } else if (d.architecture != "DFlashDraftModel") {
    f.fail(ErrorCode::kUnsupported, "architectures",
           fmt::format("drafter architecture '{}' (expected DFlashDraftModel)", d.architecture));
  }
  if (dflash && dflash->get_bool("sample_from_anchor", false)) {
    dflash->fail(ErrorCode::kUnsupported, "sample_from_anchor",
                 "anchor-sampling drafters are not DFlash");
  }
}

int positive(const JsonFields& f, std::string_view key, std::optional<int> value) {
  if (!value) f.fail(ErrorCode::kInvalidFile, key, "missing");
  if (*value <= 0) f.fail(ErrorCode::kInvalidFile, key, fmt::format("{} must be positive", *value));
  return *value;
}

void read_attention(const JsonFields& f, DrafterConfig& d) {
  d.num_heads = positive(f, "num_attention_heads", f.opt_int("num_attention_heads"));
  d.num_kv_heads =
      positive(f, "num_key_value_heads", f.get_int("num_key_value_heads", d.num_heads));
  if (d.num_heads % d.num_kv_heads != 0) {
    f.fail(ErrorCode::kInvalidFile, "num_key_value_heads",
           fmt::format("{} attention heads are not a multiple of {} key/value heads", d.num_heads,
                       d.num_kv_heads));
  }
  d.head_dim = positive(f, "head_dim", f.get_int("head_dim", d.hidden_size / d.num_heads));
  d.v_head_dim = positive(f, "v_head_dim", f.get_int("v_head_dim", d.head_dim));
  if (f.get_bool("attention_bias", false)) {
    f.fail(ErrorCode::kUnsupported, "attention_bias", "attention projection biases");
  }
  if (auto act = f.opt_string("hidden_act"); act && *act != "silu") {
    f.fail(ErrorCode::kUnsupported, "hidden_act", fmt::format("'{}' (only silu)", *act));
  }
}

void read_rope(const JsonFields& f, DrafterConfig& d) {
  std::optional<double> theta = f.opt_double("rope_theta");
  std::optional<double> factor = f.opt_double("partial_rotary_factor");
  if (auto params = f.opt_object("rope_parameters")) {
    if (auto type = params->opt_string("rope_type"); type && *type != "default") {
      params->fail(ErrorCode::kUnsupported, "rope_type",
                   fmt::format("RoPE type '{}' (only default RoPE)", *type));
    }
    if (!theta) theta = params->opt_double("rope_theta");
    if (!factor) factor = params->opt_double("partial_rotary_factor");
  }
  if (auto scaling = f.opt_object("rope_scaling")) {
    std::string type =
        scaling->opt_string("rope_type").value_or(scaling->opt_string("type").value_or("default"));
    if (type != "default") {
      f.fail(ErrorCode::kUnsupported, "rope_scaling",
             fmt::format("RoPE scaling '{}' is not supported (only plain RoPE)", type));
    }
  }
  d.rope_theta = theta.value_or(1e6);
  if (const std::string problem = positive_float32_problem(d.rope_theta); !problem.empty()) {
    f.fail(ErrorCode::kInvalidFile, "rope_theta", problem);
  }
  double f_rot = factor.value_or(1.0);
  if (!(f_rot > 0.0 && f_rot <= 1.0)) {
    f.fail(ErrorCode::kInvalidFile, "partial_rotary_factor",
           fmt::format("{} must be in (0, 1]", f_rot));
  }
  d.rope_dim = static_cast<int>(d.head_dim * f_rot);  // Python int() truncation
  d.rotary_dim = rope_rotary_dim(d.rope_dim);         // an odd d rotates d + 1 dims
  if (d.rope_dim < 1 || d.rotary_dim > d.head_dim) {
    f.fail(ErrorCode::kUnsupported, "partial_rotary_factor",
           fmt::format("rotary dim int({} * {}) = {} rotates {} dims: expected 1 .. head_dim",
                       d.head_dim, f_rot, d.rope_dim, d.rotary_dim));
  }
}

void read_layers(const JsonFields& f, const std::optional<JsonFields>& dflash, DrafterConfig& d) {
  if (auto types = f.opt_string_list("layer_types")) {
    if (types->size() != static_cast<std::size_t>(d.num_layers)) {
      f.fail(
          ErrorCode::kInvalidFile, "layer_types",
          fmt::format("has {} entries but num_hidden_layers is {}", types->size(), d.num_layers));
    }
    for (std::size_t i = 0; i < types->size(); ++i) {
      if ((*types)[i] == "full_attention") {
        d.layer_types.push_back(AttentionKind::kFull);
      } else if ((*types)[i] == "sliding_attention") {
        d.layer_types.push_back(AttentionKind::kSliding);
      } else {
        f.fail(ErrorCode::kUnsupported, fmt::format("layer_types[{}]", i),
               fmt::format("layer type '{}'", (*types)[i]));
      }
    }
  }
  bool any_sliding = false;
  for (AttentionKind kind : d.layer_types) any_sliding |= kind == AttentionKind::kSliding;
  bool use_swa = d.layer_types.empty() && dflash && dflash->get_bool("use_swa", false);
  if (use_swa && dflash->has("swa_window_size")) {
    d.sliding_window = positive(*dflash, "swa_window_size", dflash->opt_int("swa_window_size"));
  } else if (use_swa || any_sliding) {
    std::optional<int> window = f.opt_int("sliding_window");
    if (!window && d.architecture == kMuseGlimmer) window = kMuseGlimmerWindow;
    d.sliding_window = positive(f, "sliding_window", window);
  }
}

// A MiMo extra may sit in dflash_config or at the top level.
std::optional<double> mimo_extra_double(const JsonFields& f,
                                        const std::optional<JsonFields>& dflash,
                                        std::string_view key) {
  if (dflash && dflash->has(key)) return dflash->opt_double(key);
  return f.opt_double(key);
}

}  // namespace

std::vector<int> build_target_layer_ids(int num_target_layers, int num_draft_layers) {
  if (num_draft_layers == 1) return {num_target_layers / 2};
  std::vector<int> ids;
  const std::int64_t span = std::int64_t{num_target_layers} - 4;  // from layer 1 to layer L - 3
  for (int i = 0; i < num_draft_layers; ++i) {
    double position = 1.0 + static_cast<double>(i * span) / (num_draft_layers - 1);
    ids.push_back(static_cast<int>(std::nearbyint(position)));  // ties to even, like round()
  }
  return ids;
}

DrafterConfig parse_drafter_config(const nlohmann::json& config, const std::string& label) {
  JsonFields f(config, label);
  std::optional<JsonFields> dflash = f.opt_object("dflash_config");
  DrafterConfig d;
  reject_other_architectures(f, d, dflash);

  d.hidden_size = positive(f, "hidden_size", f.opt_int("hidden_size"));
  d.num_layers = positive(f, "num_hidden_layers", f.opt_int("num_hidden_layers"));
  if (d.num_layers > kMaxDraftLayers) {
    f.fail(ErrorCode::kInvalidFile, "num_hidden_layers",
           fmt::format("{} exceeds the limit {}", d.num_layers, kMaxDraftLayers));
  }
  d.intermediate_size = positive(f, "intermediate_size", f.opt_int("intermediate_size"));
  // transformers' assistant has no vocabulary of its own (it uses the target's).
  d.vocab_size = d.architecture == kMuseGlimmer && !f.has("vocab_size")
                     ? 0
                     : positive(f, "vocab_size", f.opt_int("vocab_size"));
  read_attention(f, d);
  read_rope(f, d);
  d.rms_norm_eps = f.get_double("rms_norm_eps", 1e-6);
  if (const std::string problem = positive_float32_problem(d.rms_norm_eps); !problem.empty()) {
    f.fail(ErrorCode::kInvalidFile, "rms_norm_eps", problem);
  }

  if (f.has("block_size")) {
    d.block_size = positive(f, "block_size", f.opt_int("block_size"));
  } else if (dflash && dflash->has("block_size")) {
    d.block_size = positive(*dflash, "block_size", dflash->opt_int("block_size"));
  } else {
    f.fail(ErrorCode::kInvalidFile, "block_size", "missing (top level and dflash_config)");
  }

  if (dflash && dflash->has("mask_token_id")) {
    d.mask_token_id = *dflash->opt_int("mask_token_id");
  } else {
    d.mask_token_id = f.get_int("mask_token_id", -1);
  }

  d.num_target_layers = f.get_int("num_target_layers", 0);
  if (d.num_target_layers < 0) {
    f.fail(ErrorCode::kInvalidFile, "num_target_layers", "must not be negative");
  }
  if (dflash && dflash->has("target_layer_ids")) {
    d.target_layer_ids = *dflash->opt_int_list("target_layer_ids");
    if (d.target_layer_ids.empty()) {
      dflash->fail(ErrorCode::kInvalidFile, "target_layer_ids", "empty");
    }
  } else if (f.has("target_layer_ids")) {
    d.target_layer_ids = *f.opt_int_list("target_layer_ids");
    if (d.target_layer_ids.empty()) f.fail(ErrorCode::kInvalidFile, "target_layer_ids", "empty");
  } else if (d.num_target_layers > 0) {
    d.target_layer_ids = build_target_layer_ids(d.num_target_layers, d.num_layers);
  } else {
    f.fail(ErrorCode::kInvalidFile, "num_target_layers",
           "missing, and no dflash_config.target_layer_ids to use instead");
  }
  for (int id : d.target_layer_ids) {
    if (id < 0 || (d.num_target_layers > 0 && id >= d.num_target_layers)) {
      f.fail(ErrorCode::kInvalidFile, "dflash_config.target_layer_ids",
             fmt::format("layer {} outside the {} target layers", id, d.num_target_layers));
    }
  }

  read_layers(f, dflash, d);
  if (d.architecture == kMuseGlimmer && d.layer_types.empty()) {
    d.layer_types.assign(d.num_layers, AttentionKind::kSliding);
    d.sliding_window =
        positive(f, "sliding_window", f.get_int("sliding_window", kMuseGlimmerWindow));
  }
  d.attention_value_scale = mimo_extra_double(f, dflash, "attention_value_scale").value_or(1.0);
  if (const std::string problem = positive_float32_problem(d.attention_value_scale);
      !problem.empty()) {
    f.fail(ErrorCode::kInvalidFile, "attention_value_scale", problem);
  }
  if (dflash && dflash->has("attention_sink_bias")) {
    d.has_sink = *dflash->opt_bool("attention_sink_bias");
  } else {
    d.has_sink = f.get_bool("attention_sink_bias", false);
  }
  return d;
}

DrafterConfig load_drafter_config(const std::string& path) {
  std::string config_path = config_json_path(path);
  return parse_drafter_config(read_json_file(config_path), config_path);
}

void validate_drafter_against_target(const DrafterConfig& drafter, const ModelConfig& target) {
  auto fail = [](const std::string& what) {
    throw Error(ErrorCode::kInvalidArgument,
                "DFlash drafter does not fit the target model: " + what);
  };
  if (drafter.hidden_size != target.hidden_size) {
    fail(
        fmt::format("drafter hidden_size {} != target hidden_size {} (the drafter uses the "
                    "target's embeddings and lm_head)",
                    drafter.hidden_size, target.hidden_size));
  }
  if (drafter.num_target_layers != 0 && drafter.num_target_layers != target.num_layers) {
    fail(fmt::format("num_target_layers {} but the target has {} layers", drafter.num_target_layers,
                     target.num_layers));
  }
  for (int id : drafter.target_layer_ids) {
    if (id < 0 || id >= target.num_layers) {
      fail(fmt::format("target layer {} outside the target's {} layers", id, target.num_layers));
    }
  }
  if (drafter.mask_token_id < 0 || drafter.mask_token_id >= target.vocab_size) {
    fail(drafter.mask_token_id < 0
             ? std::string("mask_token_id is not set")
             : fmt::format("mask_token_id {} outside the target vocabulary of {}",
                           drafter.mask_token_id, target.vocab_size));
  }
}

}  // namespace mimo::model
