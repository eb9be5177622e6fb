// Building a DeviceModel: upload of bound weights (stored precision where the tiles can read it,
// F32 otherwise) and random synthetic weights generated on the device.
#include "cuda/runtime/device_model.hpp"

#include <fmt/format.h>

#include <cmath>

#include "cpu/weight_rows.hpp"
#include "cuda/kernels/step_ops.hpp"
#include "cuda/runtime/device_weights.hpp"
#include "exec/weight_checks.hpp"
#include "mimo/error.hpp"
#include "model/rope_table.hpp"

namespace mimo::cuda {
namespace {

using model::LinearWeight;
using model::WeightFormat;

DeviceLinear from_f32(const F32Matrix& m) {
  DeviceLinear d;
  d.format = MatrixFormat::kF32;
  d.f32 = m;
  d.rows = m.rows;
  d.cols = m.cols;
  d.bytes = std::uint64_t(m.rows) * m.cols * 4;
  return d;
}

DeviceLinear from_fp8(const Fp8Matrix& m) {
  DeviceLinear d;
  d.format = MatrixFormat::kFp8;
  d.fp8 = m;
  d.rows = m.rows;
  d.cols = m.cols;
  const std::uint64_t scale_rows = (m.rows + m.scale_row_offset + m.block_rows - 1) / m.block_rows;
  d.bytes = std::uint64_t(m.rows) * m.cols + scale_rows * m.scale_cols * 4;
  return d;
}

DeviceLinear from_mxfp4(const Mxfp4Matrix& m) {
  DeviceLinear d;
  d.format = MatrixFormat::kMxfp4;
  d.mxfp4 = m;
  d.rows = m.rows;
  d.cols = m.cols;
  d.bytes = std::uint64_t(m.rows) * m.cols / 2 + std::uint64_t(m.rows) * m.cols / 32;
  return d;
}

DeviceLinear from_bf16(const Bf16Matrix& m) {
  DeviceLinear d;
  d.format = MatrixFormat::kBf16;
  d.bf16 = m;
  d.rows = m.rows;
  d.cols = m.cols;
  d.bytes = std::uint64_t(m.rows) * m.cols * 2;
  return d;
}

// Every format, dequantized exactly as the CPU reference decodes it.
DeviceLinear widen_to_f32(const LinearWeight& w, DeviceArena& arena) {
  cpu::validate_linear(w);
  if (w.cols % 4 != 0) {
    throw Error(ErrorCode::kUnsupported,
                fmt::format("GPU upload of '{}': cols {} not a multiple of 4", w.name, w.cols));
  }
  std::vector<float> values(static_cast<std::size_t>(w.rows * w.cols));
  for (std::int64_t r = 0; r < w.rows; ++r) cpu::decode_row(w, r, values.data() + r * w.cols);
  const auto* device = static_cast<const float*>(arena.upload(values.data(), values.size() * 4));
  return from_f32(F32Matrix{device, static_cast<int>(w.rows), static_cast<int>(w.cols)});
}

DeviceLinear upload_linear(const LinearWeight& w, DeviceArena& arena) {
  try {
    switch (w.format) {
      case WeightFormat::kFp8Block:
        return from_fp8(upload_fp8(w, arena));
      case WeightFormat::kMxfp4:
        return from_mxfp4(upload_mxfp4(w, arena));
      case WeightFormat::kBF16:
        return from_bf16(upload_bf16(w, arena));
      default:
        break;
    }
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnsupported) throw;  // a shape the tiles cannot read: widen
  }
  return widen_to_f32(w, arena);
}

template <class Matrix>
const void* upload_table(const std::vector<DeviceLinear>& members, Matrix DeviceLinear::*field,
                         DeviceArena& arena) {
  std::vector<Matrix> host;
  for (const DeviceLinear& m : members) host.push_back(m.*field);
  return arena.upload(host.data(), host.size() * sizeof(Matrix));
}

ExpertTable make_table(const std::vector<const LinearWeight*>& weights, DeviceArena& arena) {
  std::vector<DeviceLinear> members;
  for (const LinearWeight* w : weights) members.push_back(upload_linear(*w, arena));
  const DeviceLinear& first = members.front();
  for (const DeviceLinear& m : members) {
    if (m.format != first.format || m.rows != first.rows || m.cols != first.cols) {
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("GPU upload of '{}': experts of one projection differ in format "
                              "or shape",
                              weights.front()->name));
    }
  }
  ExpertTable t;
  t.format = first.format;
  t.rows = first.rows;
  t.cols = first.cols;
  switch (first.format) {
    case MatrixFormat::kFp8:
      t.table = upload_table(members, &DeviceLinear::fp8, arena);
      break;
    case MatrixFormat::kMxfp4:
      t.table = upload_table(members, &DeviceLinear::mxfp4, arena);
      break;
    case MatrixFormat::kBf16:
      t.table = upload_table(members, &DeviceLinear::bf16, arena);
      break;
    case MatrixFormat::kF32:
      t.table = upload_table(members, &DeviceLinear::f32, arena);
      break;
  }
  return t;
}

bool stackable(const std::vector<const LinearWeight*>& weights) {
  for (const LinearWeight* w : weights) {
    if (w->format != WeightFormat::kMxfp4 || w->cols % 32 != 0 || w->block_cols != 32) {
      return false;
    }
  }
  return true;
}

DeviceExperts upload_experts(const std::vector<model::ExpertWeights>& experts, DeviceArena& arena) {
  std::vector<const LinearWeight*> gate, up, down;
  DeviceExperts d;
  d.count = static_cast<int>(experts.size());
  for (const model::ExpertWeights& e : experts) {
    gate.push_back(&e.gate);
    up.push_back(&e.up);
    down.push_back(&e.down);
  }
  if (stackable(gate) && stackable(up) && stackable(down)) {
    d.stacked = true;
    d.gate_stack = upload_mxfp4_stack(gate, arena);
    d.up_stack = upload_mxfp4_stack(up, arena);
    d.down_stack = upload_mxfp4_stack(down, arena);
    const auto bytes = [](const Mxfp4Stack& s) {
      return std::uint64_t(s.rows) * s.cols / 2 + std::uint64_t(s.rows) * s.cols / 32;
    };
    d.bytes_per_expert = bytes(d.gate_stack) + bytes(d.up_stack) + bytes(d.down_stack);
    return d;
  }
  d.gate = make_table(gate, arena);
  d.up = make_table(up, arena);
  d.down = make_table(down, arena);
  const auto table_bytes = [](const ExpertTable& t) -> std::uint64_t {
    const std::uint64_t values = std::uint64_t(t.rows) * t.cols;
    switch (t.format) {
      case MatrixFormat::kFp8:
        return values + (t.rows + 127) / 128 * ((t.cols + 127) / 128) * 4;
      case MatrixFormat::kMxfp4:
        return values / 2 + values / 32;
      case MatrixFormat::kBf16:
        return values * 2;
      case MatrixFormat::kF32:
        return values * 4;
    }
    return 0;
  };
  d.bytes_per_expert = table_bytes(d.gate) + table_bytes(d.up) + table_bytes(d.down);
  return d;
}

const float* upload_floats(const std::vector<float>& v, DeviceArena& arena) {
  return static_cast<const float*>(arena.upload(v.data(), v.size() * sizeof(float)));
}

}  // namespace

DeviceLinear upload_device_linear(const model::LinearWeight& w, DeviceArena& arena) {
  return upload_linear(w, arena);
}

namespace {

std::size_t value_bytes(MatrixFormat format) {
  return format == MatrixFormat::kBf16 ? 2 : 4;
}

const void* values_of(const DeviceLinear& w) {
  return w.format == MatrixFormat::kBf16 ? static_cast<const void*>(w.bf16.values)
                                         : static_cast<const void*>(w.f32.values);
}

DeviceLinear with_values(MatrixFormat format, const void* values, int rows, int cols) {
  DeviceLinear w;
  w.format = format;
  w.rows = rows;
  w.cols = cols;
  w.bytes = std::uint64_t(rows) * cols * value_bytes(format);
  if (format == MatrixFormat::kBf16) {
    w.bf16 = Bf16Matrix{static_cast<const std::uint16_t*>(values), rows, cols};
  } else {
    w.f32 = F32Matrix{static_cast<const float*>(values), rows, cols};
  }
  return w;
}

}  // namespace

DeviceLinear stack_device_linears(std::initializer_list<const DeviceLinear*> parts,
                                  DeviceArena& arena) {
  const DeviceLinear& first = **parts.begin();
  if (first.format != MatrixFormat::kBf16 && first.format != MatrixFormat::kF32) return {};
  int rows = 0;
  for (const DeviceLinear* p : parts) {
    if (p->format != first.format || p->cols != first.cols) return {};
    rows += p->rows;
  }
  const std::size_t row_bytes = std::size_t(first.cols) * value_bytes(first.format);
  char* out = static_cast<char*>(arena.allocate(std::size_t(rows) * row_bytes));
  std::size_t at = 0;
  for (const DeviceLinear* p : parts) {
    copy_on_device(out + at, values_of(*p), std::size_t(p->rows) * row_bytes);
    at += std::size_t(p->rows) * row_bytes;
  }
  return with_values(first.format, out, rows, first.cols);
}

DeviceLinear device_linear_rows(const DeviceLinear& w, int first, int rows) {
  const std::size_t row_bytes = std::size_t(w.cols) * value_bytes(w.format);
  return with_values(w.format, static_cast<const char*>(values_of(w)) + first * row_bytes, rows,
                     w.cols);
}

void apply(const DeviceLinear& w, const float* x, int n_tokens, float* y, Stream stream) {
  switch (w.format) {
    case MatrixFormat::kFp8:
      return linear(w.fp8, x, n_tokens, y, stream);
    case MatrixFormat::kMxfp4:
      return linear(w.mxfp4, x, n_tokens, y, stream);
    case MatrixFormat::kBf16:
      return linear(w.bf16, x, n_tokens, y, stream);
    case MatrixFormat::kF32:
      return linear(w.f32, x, n_tokens, y, stream);
  }
}

std::uint64_t DeviceModel::fixed_step_bytes() const {
  std::uint64_t total = lm_head.bytes;
  for (const DeviceLayer& l : layers) {
    total += l.q.bytes + l.k.bytes + l.v.bytes + l.o.bytes;
    total += l.moe ? l.router.bytes : l.gate.bytes + l.up.bytes + l.down.bytes;
  }
  return total;
}

std::unique_ptr<DeviceModel> upload_model(const model::ModelConfig& config,
                                          const model::ModelWeights& weights) {
  exec::check_weights(config, weights);
  auto m = std::make_unique<DeviceModel>();
  DeviceArena& arena = m->arena;
  const std::int64_t hidden = config.hidden_size;
  if (weights.embed.format == WeightFormat::kBF16 && hidden % 8 == 0 &&
      weights.embed.row_offset == 0) {
    m->embed_format = MatrixFormat::kBf16;
    m->embed_bf16 = upload_bf16(weights.embed, arena);
  } else {
    m->embed_format = MatrixFormat::kF32;
    m->embed_f32 = widen_to_f32(weights.embed, arena).f32;
  }
  for (int l = 0; l < config.num_layers; ++l) {
    const model::LayerWeights& w = weights.layers[l];
    const model::AttentionSpec& a = config.attention(l);
    DeviceLayer d;
    d.input_norm = upload_floats(cpu::to_floats(w.input_norm, hidden), arena);
    d.post_attention_norm = upload_floats(cpu::to_floats(w.post_attention_norm, hidden), arena);
    d.q = upload_linear(w.q, arena);
    d.k = upload_linear(w.k, arena);
    d.v = upload_linear(w.v, arena);
    d.o = upload_linear(w.o, arena);
    if (a.has_sink) d.sinks = upload_floats(cpu::to_floats(*w.sink, a.num_heads), arena);
    d.moe = config.layers[l].mlp == model::MlpKind::kMoe;
    if (d.moe) {
      d.router = widen_to_f32(*w.router, arena);
      if (w.router_bias) {
        d.router_bias =
            upload_floats(cpu::to_floats(*w.router_bias, config.n_routed_experts), arena);
      }
      d.experts = upload_experts(w.experts, arena);
    } else {
      d.gate = upload_linear(w.dense->gate, arena);
      d.up = upload_linear(w.dense->up, arena);
      d.down = upload_linear(w.dense->down, arena);
    }
    m->layers.push_back(d);
  }
  m->final_norm = upload_floats(cpu::to_floats(weights.final_norm, hidden), arena);
  m->lm_head = upload_linear(weights.lm_head, arena);
  m->full_inv_freq = upload_floats(
      model::rope_inv_freq(config.full.frequency_dim(), config.full.rope_theta), arena);
  m->sliding_inv_freq = upload_floats(
      model::rope_inv_freq(config.sliding.frequency_dim(), config.sliding.rope_theta), arena);
  synchronize();
  return m;
}

namespace {

// Synthetic weights: value scales chosen so that W x has entries of order |x|.
struct Synth {
  DeviceArena& arena;
  std::uint64_t seed;

  std::uint64_t next() { return seed = seed * 6364136223846793005ull + 1442695040888963407ull; }

  DeviceLinear fp8(int rows, int cols) {
    Fp8Matrix m;
    m.rows = rows;
    m.cols = cols;
    m.scale_cols = (cols + 127) / 128;
    const std::size_t scale_count = std::size_t((rows + 127) / 128) * m.scale_cols;
    auto* codes = static_cast<std::uint8_t*>(arena.allocate(std::size_t(rows) * cols));
    auto* scales = static_cast<float*>(arena.allocate(scale_count * 4));
    // E4M3 codes with the top exponent bit clear: no NaN, |v| < 2, mean square ~0.23.
    fill_random_bytes(codes, std::size_t(rows) * cols, next(), 0xBF, 0);
    fill_constant_f32(scales, scale_count, 2.0f / std::sqrt(float(cols)));
    m.codes = codes;
    m.scales = scales;
    return from_fp8(m);
  }

  Mxfp4Stack mxfp4_stack(int count, int rows, int cols) {
    // Random bytes in the tile order (padding codes meet zero activations: any value is fine).
    const std::size_t code_bytes = std::size_t(count) * mxfp4_mma_code_bytes(rows, cols);
    const std::size_t scale_bytes = std::size_t(count) * mxfp4_mma_scale_bytes(rows, cols);
    auto* codes = static_cast<std::uint8_t*>(arena.allocate(code_bytes));
    auto* scales = static_cast<std::uint8_t*>(arena.allocate(scale_bytes));
    fill_random_bytes(codes, code_bytes, next(), 0xFF, 0);
    // E2M1 values have mean square 8.56: scale 2^-round(log2(sqrt(8.56 cols))).
    const int shift = static_cast<int>(std::lround(std::log2(std::sqrt(8.56 * cols))));
    fill_random_bytes(scales, scale_bytes, next(), 0, static_cast<std::uint8_t>(127 - shift));
    return Mxfp4Stack{codes, scales, count, rows, cols, /*special_scales=*/false};  // one value
  }

  DeviceLinear f32(int rows, int cols) {
    auto* values = static_cast<float*>(arena.allocate(std::size_t(rows) * cols * 4));
    fill_random_f32(values, std::size_t(rows) * cols, next(), std::sqrt(3.0f / cols));
    return from_f32(F32Matrix{values, rows, cols});
  }

  DeviceLinear bf16(int rows, int cols) {
    auto* values = static_cast<std::uint16_t*>(arena.allocate(std::size_t(rows) * cols * 2));
    fill_random_bf16(values, std::size_t(rows) * cols, next(), std::sqrt(3.0f / cols));
    return from_bf16(Bf16Matrix{values, rows, cols});
  }

  const float* constant(std::size_t count, float value) {
    auto* values = static_cast<float*>(arena.allocate(count * 4));
    fill_constant_f32(values, count, value);
    return values;
  }
};

}  // namespace

std::unique_ptr<DeviceModel> synthetic_model(const model::ModelConfig& config, std::uint64_t seed) {
  auto m = std::make_unique<DeviceModel>();
  Synth synth{m->arena, seed};
  const int hidden = config.hidden_size;
  m->lm_head = synth.bf16(config.vocab_size, hidden);
  m->embed_format = MatrixFormat::kBf16;
  m->embed_bf16 = m->lm_head.bf16;  // tied: the embedding only gathers rows
  for (int l = 0; l < config.num_layers; ++l) {
    const model::AttentionSpec& a = config.attention(l);
    DeviceLayer d;
    d.input_norm = synth.constant(hidden, 1.0f);
    d.post_attention_norm = synth.constant(hidden, 1.0f);
    d.q = synth.fp8(a.num_heads * a.head_dim, hidden);
    d.k = synth.fp8(a.num_kv_heads * a.head_dim, hidden);
    d.v = synth.fp8(a.num_kv_heads * a.v_head_dim, hidden);
    d.o = synth.fp8(hidden, a.num_heads * a.v_head_dim);
    if (a.has_sink) d.sinks = synth.constant(a.num_heads, 0.0f);
    d.moe = config.layers[l].mlp == model::MlpKind::kMoe;
    if (d.moe) {
      d.router = synth.f32(config.n_routed_experts, hidden);
      DeviceExperts& e = d.experts;
      e.count = config.n_routed_experts;
      e.stacked = true;
      e.gate_stack = synth.mxfp4_stack(e.count, config.moe_intermediate_size, hidden);
      e.up_stack = synth.mxfp4_stack(e.count, config.moe_intermediate_size, hidden);
      e.down_stack = synth.mxfp4_stack(e.count, hidden, config.moe_intermediate_size);
      e.bytes_per_expert = std::uint64_t(3) * config.moe_intermediate_size * hidden * 17 / 32;
    } else {
      d.gate = synth.fp8(config.intermediate_size, hidden);
      d.up = synth.fp8(config.intermediate_size, hidden);
      d.down = synth.fp8(hidden, config.intermediate_size);
    }
    m->layers.push_back(d);
  }
  m->final_norm = synth.constant(hidden, 1.0f);
  m->full_inv_freq = upload_floats(
      model::rope_inv_freq(config.full.frequency_dim(), config.full.rope_theta), m->arena);
  m->sliding_inv_freq = upload_floats(
      model::rope_inv_freq(config.sliding.frequency_dim(), config.sliding.rope_theta), m->arena);
  synchronize();
  return m;
}

}  // namespace mimo::cuda
