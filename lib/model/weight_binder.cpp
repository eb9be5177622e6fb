// Checkpoint tensors -> ModelWeights (see weight_binder.hpp).
#include "model/weight_binder.hpp"

#include <fmt/format.h>

#include <set>

#include "mimo/error.hpp"
#include "model/value_checks.hpp"

namespace mimo::model {

namespace {

constexpr ExpertLayout kExpertLayouts[] = {
    {"per-expert tensors (BF16, FP8 + weight_scale_inv, or MXFP4 U8 + weight_scale)",
     "{e}.{p}.weight", "", false},
    {"gpt-oss stacked MXFP4 (*_blocks + *_scales)", "{p}_blocks", "{p}_scales", true},
};

constexpr const char* kProjections[] = {"gate_proj", "up_proj", "down_proj"};
constexpr const char* kSkippedPrefix = "model.mtp.";

std::string substitute(std::string pattern, const std::string& key, const std::string& value) {
  for (std::size_t at = pattern.find(key); at != std::string::npos; at = pattern.find(key, at)) {
    pattern.replace(at, key.size(), value);
    at += value.size();
  }
  return pattern;
}

bool is_plain(io::DType dtype) {
  return dtype == io::DType::kF32 || dtype == io::DType::kBF16 || dtype == io::DType::kF16;
}

WeightFormat plain_format(io::DType dtype) {
  switch (dtype) {
    case io::DType::kF32:
      return WeightFormat::kF32;
    case io::DType::kF16:
      return WeightFormat::kF16;
    default:
      return WeightFormat::kBF16;
  }
}

const std::uint8_t* bytes_of(const io::TensorView& t) {
  return reinterpret_cast<const std::uint8_t*>(t.data);
}

class Binder {
 public:
  Binder(const ModelConfig& config, const io::Checkpoint& checkpoint)
      : config_(config), checkpoint_(checkpoint) {
    if (config.quantization && config.quantization->weight_block_size.size() == 2) {
      fp8_block_rows_ = config.quantization->weight_block_size[0];
      fp8_block_cols_ = config.quantization->weight_block_size[1];
    }
  }

  ModelWeights bind() {
    ModelWeights w;
    const std::int64_t vocab = config_.vocab_size, hidden = config_.hidden_size;
    w.embed = bind_linear("model.embed_tokens.weight", vocab, hidden);
    require_plain(w.embed);
    for (int i = 0; i < config_.num_layers; ++i) w.layers.push_back(bind_layer(i));
    w.final_norm = bind_vector("model.norm.weight", hidden);
    if (config_.tie_word_embeddings) {
      w.lm_head = w.embed;
    } else {
      w.lm_head = bind_linear("lm_head.weight", vocab, hidden);
    }
    check_leftovers(w);
    return w;
  }

 private:
  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    throw Error(code, fmt::format("checkpoint {}: {}", checkpoint_.directory(), what));
  }

  const io::TensorView& take(const std::string& name) {
    const io::TensorView* t = checkpoint_.find(name);
    if (t == nullptr) fail(ErrorCode::kInvalidFile, fmt::format("missing tensor {}", name));
    used_.insert(name);
    return *t;
  }

  bool has(const std::string& name) const { return checkpoint_.find(name) != nullptr; }

  void check_scales(const io::TensorView& s) const {
    if (const std::string problem = block_scale_problem(s); !problem.empty()) {
      fail(ErrorCode::kInvalidFile, problem);
    }
  }

  void check_finite(const std::string& name) const {
    if (const std::string problem = non_finite_problem(checkpoint_.get(name)); !problem.empty()) {
      fail(ErrorCode::kInvalidFile, problem);
    }
  }

  void expect_shape(const io::TensorView& t, const std::vector<std::int64_t>& shape) const {
    if (t.shape != shape) {
      fail(ErrorCode::kInvalidFile,
           fmt::format("tensor {} ({}) has shape {}, expected {}", t.name, t.file,
                       io::shape_string(t.shape), io::shape_string(shape)));
    }
  }

  [[noreturn]] void bad_dtype(const io::TensorView& t, const char* expected) const {
    fail(ErrorCode::kUnsupported, fmt::format("tensor {} ({}) has dtype {}, expected {}", t.name,
                                              t.file, io::dtype_name(t.dtype), expected));
  }

  void require_plain(const LinearWeight& w) const {
    if (w.format != WeightFormat::kF32 && w.format != WeightFormat::kBF16 &&
        w.format != WeightFormat::kF16) {
      fail(ErrorCode::kUnsupported,
           fmt::format("tensor {} must be F32, BF16 or F16 (rows are gathered)", w.name));
    }
  }

  VectorWeight bind_vector(const std::string& name, std::int64_t size) {
    const io::TensorView& t = take(name);
    if (!is_plain(t.dtype)) bad_dtype(t, "F32, BF16 or F16");
    expect_shape(t, {size});
    return {name, t.dtype, bytes_of(t), size};
  }

  // One [rows, cols] linear weight; its dtype picks the format.
  LinearWeight bind_linear(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const io::TensorView& t = take(name);
    LinearWeight w;
    w.name = name;
    w.rows = rows;
    w.cols = cols;
    w.data = bytes_of(t);
    if (is_plain(t.dtype)) {
      expect_shape(t, {rows, cols});
      w.format = plain_format(t.dtype);
      w.row_stride_bytes = cols * static_cast<std::int64_t>(io::dtype_size(t.dtype));
    } else if (t.dtype == io::DType::kF8_E4M3) {
      expect_shape(t, {rows, cols});
      const io::TensorView& s = take(name + "_scale_inv");
      if (s.dtype != io::DType::kF32 && s.dtype != io::DType::kBF16) bad_dtype(s, "F32 or BF16");
      const std::int64_t scale_rows = (rows + fp8_block_rows_ - 1) / fp8_block_rows_;
      w.scale_cols = (cols + fp8_block_cols_ - 1) / fp8_block_cols_;
      expect_shape(s, {scale_rows, w.scale_cols});
      check_scales(s);
      w.format = WeightFormat::kFp8Block;
      w.row_stride_bytes = cols;
      w.scales = bytes_of(s);
      w.scale_dtype = s.dtype;
      w.block_rows = fp8_block_rows_;
      w.block_cols = fp8_block_cols_;
    } else if (t.dtype == io::DType::kU8) {
      if (cols % 32 != 0) {
        fail(ErrorCode::kUnsupported,
             fmt::format("MXFP4 tensor {} has {} inputs, not a multiple of 32", name, cols));
      }
      expect_shape(t, {rows, cols / 2});
      const io::TensorView& s = take(name + "_scale");
      if (s.dtype != io::DType::kU8 && s.dtype != io::DType::kF8_E8M0) {
        bad_dtype(s, "U8 or F8_E8M0");
      }
      expect_shape(s, {rows, cols / 32});
      check_scales(s);
      set_mxfp4(w, cols, bytes_of(s), s.dtype);
    } else {
      bad_dtype(t, "F32, BF16, F16, F8_E4M3 (+ weight_scale_inv) or U8 MXFP4 (+ weight_scale)");
    }
    return w;
  }

  static void set_mxfp4(LinearWeight& w, std::int64_t cols, const std::uint8_t* scales,
                        io::DType scale_dtype) {
    w.format = WeightFormat::kMxfp4;
    w.row_stride_bytes = cols / 2;
    w.scales = scales;
    w.scale_dtype = scale_dtype;
    w.scale_cols = cols / 32;
    w.block_rows = 1;
    w.block_cols = 32;
  }

  static LinearWeight row_slice(const LinearWeight& fused, std::int64_t offset, std::int64_t rows) {
    LinearWeight w = fused;
    w.row_offset = offset;
    w.rows = rows;
    return w;
  }

  void bind_attention(int layer, LayerWeights& lw) {
    const std::string p = fmt::format("model.layers.{}.self_attn.", layer);
    const AttentionSpec& a = config_.attention(layer);
    const std::int64_t hidden = config_.hidden_size;
    const std::int64_t q_rows = std::int64_t{a.num_heads} * a.head_dim;
    const std::int64_t k_rows = std::int64_t{a.num_kv_heads} * a.head_dim;
    const std::int64_t v_rows = std::int64_t{a.num_kv_heads} * a.v_head_dim;
    if (has(p + "qkv_proj.weight")) {
      LinearWeight fused = bind_linear(p + "qkv_proj.weight", q_rows + k_rows + v_rows, hidden);
      lw.q = row_slice(fused, 0, q_rows);
      lw.k = row_slice(fused, q_rows, k_rows);
      lw.v = row_slice(fused, q_rows + k_rows, v_rows);
    } else {
      lw.q = bind_linear(p + "q_proj.weight", q_rows, hidden);
      lw.k = bind_linear(p + "k_proj.weight", k_rows, hidden);
      lw.v = bind_linear(p + "v_proj.weight", v_rows, hidden);
    }
    lw.o = bind_linear(p + "o_proj.weight", hidden, std::int64_t{a.num_heads} * a.v_head_dim);
    if (a.has_sink) {
      // transformers renames the hub's attention_sink_bias to sinks when it loads.
      std::string name = has(p + "sinks") && !has(p + "attention_sink_bias")
                             ? p + "sinks"
                             : p + "attention_sink_bias";
      lw.sink = bind_vector(name, a.num_heads);
    }
  }

  const ExpertLayout& find_expert_layout(const std::string& prefix) const {
    for (const ExpertLayout& layout : kExpertLayouts) {
      std::string probe = substitute(substitute(layout.values, "{e}", "0"), "{p}", "gate_proj");
      if (has(prefix + probe)) return layout;
    }
    std::string names;
    for (const ExpertLayout& layout : kExpertLayouts) {
      names += fmt::format("\n  {}{} ({})", prefix,
                           substitute(substitute(layout.values, "{e}", "0"), "{p}", "gate_proj"),
                           layout.description);
    }
    fail(ErrorCode::kInvalidFile, fmt::format("missing expert weights; expected one of:{}", names));
  }

  void bind_stacked_experts(const std::string& prefix, const ExpertLayout& layout,
                            std::vector<ExpertWeights>& experts) {
    const std::int64_t n = config_.n_routed_experts;
    for (const char* proj : kProjections) {
      const bool down = std::string_view(proj) == "down_proj";
      const std::int64_t rows = down ? config_.hidden_size : config_.moe_intermediate_size;
      const std::int64_t cols = down ? config_.moe_intermediate_size : config_.hidden_size;
      const std::string values_name = prefix + substitute(layout.values, "{p}", proj);
      const io::TensorView& values = take(values_name);
      const io::TensorView& scales = take(prefix + substitute(layout.scales, "{p}", proj));
      if (values.dtype != io::DType::kU8) bad_dtype(values, "U8 (packed E2M1 pairs)");
      if (scales.dtype != io::DType::kU8 && scales.dtype != io::DType::kF8_E8M0) {
        bad_dtype(scales, "U8 or F8_E8M0");
      }
      if (cols % 32 != 0) {
        fail(ErrorCode::kUnsupported,
             fmt::format("MXFP4 tensor {} has {} inputs, not a multiple of 32", values_name, cols));
      }
      expect_shape(values, {n, rows, cols / 32, 16});
      expect_shape(scales, {n, rows, cols / 32});
      check_scales(scales);
      for (std::int64_t e = 0; e < n; ++e) {
        LinearWeight w;
        w.name = fmt::format("{}[{}]", values_name, e);
        w.rows = rows;
        w.cols = cols;
        w.data = bytes_of(values) + e * rows * (cols / 2);
        set_mxfp4(w, cols, bytes_of(scales) + e * rows * (cols / 32), scales.dtype);
        ExpertWeights& ew = experts[static_cast<std::size_t>(e)];
        (down ? ew.down : std::string_view(proj) == "gate_proj" ? ew.gate : ew.up) = w;
      }
    }
  }

  void bind_moe(int layer, LayerWeights& lw) {
    const std::string p = fmt::format("model.layers.{}.mlp.", layer);
    const std::int64_t hidden = config_.hidden_size, n = config_.n_routed_experts;
    const std::int64_t inter = config_.moe_intermediate_size;
    lw.router = bind_linear(p + "gate.weight", n, hidden);
    lw.router_bias = bind_vector(p + "gate.e_score_correction_bias", n);
    check_finite(p + "gate.weight");
    check_finite(p + "gate.e_score_correction_bias");
    const std::string prefix = p + "experts.";
    const ExpertLayout& layout = find_expert_layout(prefix);
    lw.experts.resize(static_cast<std::size_t>(n));
    if (layout.stacked) {
      bind_stacked_experts(prefix, layout, lw.experts);
      return;
    }
    for (std::int64_t e = 0; e < n; ++e) {
      auto name = [&](const char* proj) {
        return prefix +
               substitute(substitute(layout.values, "{e}", std::to_string(e)), "{p}", proj);
      };
      ExpertWeights& ew = lw.experts[static_cast<std::size_t>(e)];
      ew.gate = bind_linear(name("gate_proj"), inter, hidden);
      ew.up = bind_linear(name("up_proj"), inter, hidden);
      ew.down = bind_linear(name("down_proj"), hidden, inter);
    }
  }

  LayerWeights bind_layer(int layer) {
    LayerWeights lw;
    const std::string p = fmt::format("model.layers.{}.", layer);
    const std::int64_t hidden = config_.hidden_size;
    lw.input_norm = bind_vector(p + "input_layernorm.weight", hidden);
    lw.post_attention_norm = bind_vector(p + "post_attention_layernorm.weight", hidden);
    bind_attention(layer, lw);
    if (config_.layers[layer].mlp == MlpKind::kDense) {
      const std::int64_t inter = config_.intermediate_size;
      ExpertWeights dense;
      dense.gate = bind_linear(p + "mlp.gate_proj.weight", inter, hidden);
      dense.up = bind_linear(p + "mlp.up_proj.weight", inter, hidden);
      dense.down = bind_linear(p + "mlp.down_proj.weight", hidden, inter);
      lw.dense = dense;
    } else {
      bind_moe(layer, lw);
    }
    return lw;
  }

  // Every tensor must be used or deliberately skipped: a stray tensor means the config does not
  // describe this checkpoint.
  void check_leftovers(ModelWeights& w) const {
    std::vector<std::string> unexpected;
    for (const auto& [name, view] : checkpoint_.tensors()) {
      if (used_.count(name) != 0) continue;
      bool skip = name.rfind(kSkippedPrefix, 0) == 0 ||
                  (config_.tie_word_embeddings && name == "lm_head.weight");
      (skip ? w.skipped : unexpected).push_back(name);
    }
    if (unexpected.empty()) return;
    std::string list;
    for (std::size_t i = 0; i < unexpected.size() && i < 5; ++i) {
      list += fmt::format("\n  {} ({})", unexpected[i], checkpoint_.get(unexpected[i]).file);
    }
    if (unexpected.size() > 5) list += fmt::format("\n  ... and {} more", unexpected.size() - 5);
    fail(ErrorCode::kInvalidFile,
         fmt::format("unexpected tensor {} not used by the model config (wrong config or "
                     "checkpoint?); {} unused:{}",
                     unexpected.front(), unexpected.size(), list));
  }

  const ModelConfig& config_;
  const io::Checkpoint& checkpoint_;
  std::set<std::string> used_;
  int fp8_block_rows_ = 128;
  int fp8_block_cols_ = 128;
};

}  // namespace

std::span<const ExpertLayout> expert_layouts() {
  return kExpertLayouts;
}

ModelWeights bind_weights(const ModelConfig& config, const io::Checkpoint& checkpoint) {
  return Binder(config, checkpoint).bind();
}

}  // namespace mimo::model
