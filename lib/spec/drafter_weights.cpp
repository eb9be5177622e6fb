// DFlash drafter weight binding (see drafter_weights.hpp).
#include "spec/drafter_weights.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <initializer_list>
#include <string>

#include "cpu/weight_rows.hpp"
#include "mimo/error.hpp"

namespace mimo::spec {

namespace {

std::vector<float> floats(const io::TensorView& t, std::int64_t size) {
  model::VectorWeight v{t.name, t.dtype, reinterpret_cast<const std::uint8_t*>(t.data), size};
  return cpu::to_floats(v, size);
}

// A [hidden] or [1, hidden] float vector named `label` for messages.
std::vector<float> mask_vector(const io::TensorView& t, std::int64_t hidden,
                               const std::string& label) {
  const bool dtype_ok =
      t.dtype == io::DType::kF32 || t.dtype == io::DType::kBF16 || t.dtype == io::DType::kF16;
  const bool shape_ok = t.shape == std::vector<std::int64_t>{hidden} ||
                        t.shape == std::vector<std::int64_t>{1, hidden};
  if (!dtype_ok || !shape_ok) {
    throw Error(
        ErrorCode::kInvalidFile,
        fmt::format("{}: tensor {} is {} {}, expected F32/BF16/F16 [{}] (the drafter's "
                    "hidden size)",
                    label, t.name, io::dtype_name(t.dtype), io::shape_string(t.shape), hidden));
  }
  return floats(t, hidden);
}

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
    return floats(t, size);
  }

  const io::Checkpoint& checkpoint() const { return checkpoint_; }

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

std::vector<float> load_mask_embedding(const std::string& drafter_dir,
                                       const io::Checkpoint& checkpoint, std::int64_t hidden) {
  for (const char* name : {"mask_embedding", "model.mask_embedding"}) {
    if (const io::TensorView* t = checkpoint.find(name)) {
      return mask_vector(*t, hidden, "drafter checkpoint " + checkpoint.directory());
    }
  }
  const std::filesystem::path dir(drafter_dir);
  const std::filesystem::path sidecar = dir / "mask_embedding.safetensors";
  std::error_code ec;
  if (std::filesystem::is_regular_file(sidecar, ec)) {
    auto file = io::SafetensorsFile::open(sidecar.string());
    if (file->tensors().size() != 1) {
      throw Error(ErrorCode::kInvalidFile,
                  fmt::format("{}: expected exactly one tensor (the mask embedding), found {}",
                              sidecar.string(), file->tensors().size()));
    }
    return mask_vector(file->tensors().begin()->second, hidden, sidecar.string());
  }
  if (std::filesystem::is_regular_file(dir / "mask_embedding.pt", ec)) {
    throw Error(
        ErrorCode::kUnsupported,
        fmt::format("{}: mask_embedding.pt is a PyTorch pickle, which libmimo does not "
                    "read; convert it once with: python3 -c \"import torch; from "
                    "safetensors.torch import save_file; e = torch.load('mask_embedding.pt'); "
                    "e = e['embedding'] if isinstance(e, dict) else e; "
                    "save_file({{'mask_embedding': e.reshape(-1).float().contiguous()}}, "
                    "'mask_embedding.safetensors')\"",
                    drafter_dir));
  }
  return {};
}

}  // namespace mimo::spec
