// The one internal description of a MiMo-V2 model, whichever config schema it came from
// (transformers' "mimo_v2_flash" or the hub's own "mimo_v2"), and of a DFlash drafter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mimo::model {

enum class AttentionKind { kFull, kSliding };
enum class MlpKind { kDense, kMoe };

// Geometry of one attention flavour. Full and sliding layers each have their own.
struct AttentionSpec {
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;    // q and k
  int v_head_dim = 0;  // v and the attention output per head
  double rope_theta = 10000.0;
  // RoPE rotates the first rotary_dim dims (even: rope_dims() of d = int(head_dim *
  // partial_rotary_factor)); its inverse frequencies use d (frequency_dim()).
  int rotary_dim = 0;
  bool has_sink = false;  // per-head learned sink logit joins the softmax denominator
  int rope_dim = 0;       // d; 0: rotary_dim (every even d)
  int frequency_dim() const { return rope_dim > 0 ? rope_dim : rotary_dim; }
};

struct LayerSpec {
  AttentionKind attention = AttentionKind::kFull;
  MlpKind mlp = MlpKind::kDense;
};

// quantization_config from config.json.
struct QuantizationSpec {
  std::string method;                  // "fp8", "mxfp4", "mixed" (ours: FP4 experts + FP8 rest)
  std::string fmt;                     // "e4m3" for fp8
  std::vector<int> weight_block_size;  // [128, 128] for fp8
  std::vector<std::string> ignored;    // ignored_layers / modules_to_not_convert (name patterns)
  std::string activation_scheme;       // "dynamic"
  // The MiMo-V2.5-Pro release's fp8 config says its experts are stored otherwise:
  // store_dtype "mxfp4" with mxfp4_block_size 32 ("" / 0 when absent).
  std::string store_dtype;
  int mxfp4_block_size = 0;
};

struct ModelConfig {
  std::string schema;        // "mimo_v2_flash" or "mimo_v2"
  std::string architecture;  // architectures[0], e.g. "MiMoV2FlashForCausalLM"
  int vocab_size = 0;
  int hidden_size = 0;
  int num_layers = 0;
  AttentionSpec full;
  AttentionSpec sliding;
  int sliding_window = 128;
  double attention_value_scale = 1.0;
  int intermediate_size = 0;      // dense MLP
  int moe_intermediate_size = 0;  // per expert
  int n_routed_experts = 0;
  int num_experts_per_tok = 0;
  int n_group = 1;
  int topk_group = 1;
  bool norm_topk_prob = true;
  double routed_scaling_factor = 1.0;
  double rms_norm_eps = 1e-5;
  bool tie_word_embeddings = false;
  bool fused_qkv = false;  // hub "attention_projection_layout": "fused_qkv"
  int max_position_embeddings = 0;
  std::vector<LayerSpec> layers;  // size num_layers
  std::vector<int> eos_token_ids;
  std::optional<int> bos_token_id;
  std::optional<QuantizationSpec> quantization;

  const AttentionSpec& attention(int layer) const {
    return layers[layer].attention == AttentionKind::kFull ? full : sliding;
  }
};

// A DFlash drafter (research/dflash.md section 3), conditioned on target hidden states.
struct DrafterConfig {
  std::string architecture;  // "DFlashDraftModel", "MuseGlimmerAssistantModel", ...
  int hidden_size = 0;
  int num_layers = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int v_head_dim = 0;
  int rotary_dim = 0;  // as AttentionSpec: the rotated width and d
  int rope_dim = 0;
  int frequency_dim() const { return rope_dim > 0 ? rope_dim : rotary_dim; }
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  int block_size = 0;
  int mask_token_id = -1;
  std::vector<int> target_layer_ids;
  int num_target_layers = 0;
  std::optional<int> sliding_window;  // drafter attention window (MiMo: use_swa)
  double attention_value_scale = 1.0;
  bool has_sink = false;
  bool qk_norm = true;
  std::vector<AttentionKind> layer_types;
};

}  // namespace mimo::model
