// DFlash drafter weight binding (see drafter_weights.hpp).
#include "spec/drafter_weights.hpp"

#include <fmt/format.h>

#include <initializer_list>
#include <string>

#include "cpu/weight_rows.hpp"
#include "mimo/error.hpp"

namespace mimo::spec {

namespace {

class DrafterBinder {
 public:
  explicit DrafterBinder(const io::Checkpoint& checkpoint) : checkpoint_(checkpoint) {}

  // The first of `names` present, bare or under "model.".
  const io::TensorView& take(std::initializer_list<std::string> names) const {
    for (const std::string& name : names) {
      for (const std::string& candidate : {name, "model." + name}) {
        if (const io::TensorView* t = checkpoint_.find(candidate)) return *t;
      }
    }
    throw Error(ErrorCode::kInvalidFile, fmt::format("drafter checkpoint {}: missing tensor {}",
                                                     checkpoint_.directory(), *names.begin()));
  }

  void check(const io::TensorView& t, const std::vector<std::int64_t>& shape) const {
    if (t.dtype != io::DType::kF32 && t.dtype != io::DType::kBF16 && t.dtype != io::DType::kF16) {
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("drafter checkpoint {}: tensor {} has dtype {}, expected F32, BF16 "
                              "or F16",
                              checkpoint_.directory(), t.name, io::dtype_name(t.dtype)));
    }
    if (t.shape != shape) {
      throw Error(ErrorCode::kInvalidFile,
                  fmt::format("drafter checkpoint {}: tensor {} has shape {}, expected {}",
                              checkpoint_.directory(), t.name, io::shape_string(t.shape),
                              io::shape_string(shape)));
    }
  }

  model::LinearWeight linear(std::initializer_list<std::string> names, std::int64_t rows,
                             std::int64_t cols) const {
    const io::TensorView& t = take(names);
    check(t, {rows, cols});
    model::LinearWeight w;
    w.name = t.name;
    w.format = t.dtype == io::DType::kF32   ? model::WeightFormat::kF32
               : t.dtype == io::DType::kF16 ? model::WeightFormat::kF16
                                            : model::WeightFormat::kBF16;
    w.rows = rows;
    w.cols = cols;
    w.data = reinterpret_cast<const std::uint8_t*>(t.data);
    w.row_stride_bytes = cols * static_cast<std::int64_t>(io::dtype_size(t.dtype));
    return w;
  }

  std::vector<float> vector(std::initializer_list<std::string> names, std::int64_t size) const {
    const io::TensorView& t = take(names);
    check(t, {size});
    model::VectorWeight v{t.name, t.dtype, reinterpret_cast<const std::uint8_t*>(t.data), size};
    return cpu::to_floats(v, size);
  }

 private:
  const io::Checkpoint& checkpoint_;
};

}  // namespace

DrafterWeights bind_drafter_weights(const model::DrafterConfig& c, std::int64_t target_hidden,
                                    const io::Checkpoint& checkpoint) {
  DrafterBinder b(checkpoint);
  const std::int64_t h = c.hidden_size;
  const std::int64_t features =
      static_cast<std::int64_t>(c.target_layer_ids.size()) * target_hidden;
  DrafterWeights w;
  w.fc = b.linear({"encoder.fc.weight", "fc.weight"}, h, features);
  w.context_norm = b.vector({"encoder.output_norm_enc.weight", "hidden_norm.weight"}, h);
  w.final_norm = b.vector({"norm.weight"}, h);
  const std::int64_t q_rows = std::int64_t{c.num_heads} * c.head_dim;
  const std::int64_t k_rows = std::int64_t{c.num_kv_heads} * c.head_dim;
  const std::int64_t v_rows = std::int64_t{c.num_kv_heads} * c.v_head_dim;
  const std::int64_t o_cols = std::int64_t{c.num_heads} * c.v_head_dim;
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = fmt::format("layers.{}.", i);
    DrafterLayerWeights l;
    l.input_norm = b.vector({p + "input_layernorm.weight"}, h);
    l.post_attention_norm = b.vector({p + "post_attention_layernorm.weight"}, h);
    l.q = b.linear({p + "self_attn.q_proj.weight"}, q_rows, h);
    l.k = b.linear({p + "self_attn.k_proj.weight"}, k_rows, h);
    l.v = b.linear({p + "self_attn.v_proj.weight"}, v_rows, h);
    l.o = b.linear({p + "self_attn.o_proj.weight"}, h, o_cols);
    l.q_norm = b.vector({p + "self_attn.q_norm.weight"}, c.head_dim);
    l.k_norm = b.vector({p + "self_attn.k_norm.weight"}, c.head_dim);
    l.mlp.gate = b.linear({p + "mlp.gate_proj.weight"}, c.intermediate_size, h);
    l.mlp.up = b.linear({p + "mlp.up_proj.weight"}, c.intermediate_size, h);
    l.mlp.down = b.linear({p + "mlp.down_proj.weight"}, h, c.intermediate_size);
    if (c.has_sink) l.sink = b.vector({p + "self_attn.attention_sink_bias"}, c.num_heads);
    w.layers.push_back(std::move(l));
  }
  return w;
}

}  // namespace mimo::spec
