// GpuDrafter (see gpu_drafter.hpp): the forward of lib/spec/dflash_drafter.cpp issued op by op
// on its own stream with the executor's kernels (linear, rmsnorm, rope, silu_mul, embed,
// argmax) plus the drafter's non-causal attention (drafter_ops.hpp).
#include "cuda/launch/gpu_drafter.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "cpu/rope.hpp"
#include "cuda/launch/device_memory.hpp"
#include "cuda/launch/device_model.hpp"
#include "cuda/launch/drafter_ops.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw Error(ErrorCode::kDevice,
                fmt::format("GPU drafter, {}: {}", what, cudaGetErrorString(err)));
  }
}

const float* upload_floats(const std::vector<float>& v, DeviceArena& arena) {
  if (v.empty()) return nullptr;
  return static_cast<const float*>(arena.upload(v.data(), v.size() * sizeof(float)));
}

// A device buffer of at least `bytes`, reallocated (contents dropped) when too small.
float* ensure(DeviceBuffer& buffer, std::size_t bytes) {
  if (buffer.bytes() < bytes) buffer = DeviceBuffer(std::max<std::size_t>(bytes, 256));
  return buffer.as<float>();
}

struct DrafterLayer {
  const float* input_norm = nullptr;
  const float* post_attention_norm = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* sinks = nullptr;
  DeviceLinear q, k, v, o, gate, up, down;
};

}  // namespace

struct GpuDrafter::Impl {
  const model::DrafterConfig& config;
  const model::ModelConfig& target;
  const DeviceModel& target_device;
  int block = 0;
  cudaStream_t stream = nullptr;
  DeviceArena arena;
  DeviceLinear fc;
  const float* context_norm = nullptr;
  const float* final_norm = nullptr;
  const float* inv_freq = nullptr;
  std::vector<DrafterLayer> layers;
  // Context cache: positions ascending (host copy for lookups, device copy for the mask), and
  // per layer keys [capacity, kv, hd] / values [capacity, kv, vhd]; the first `rows` are valid.
  std::vector<std::int64_t> positions;
  DeviceBuffer device_positions;
  std::vector<DeviceBuffer> keys, values;
  std::int64_t capacity = 0;
  // Scratch of the context projection (grows with the rows of one call) and of the block.
  DeviceBuffer features, ctx, ctx_k, ctx_v, ctx_pos;
  DeviceBuffer x, h, delta, q, k, v, heads, gate, up, act, logits, ids, block_pos, drafts;

  Impl(const model::DrafterConfig& c, const model::ModelConfig& t, const DeviceModel& d, int b)
      : config(c), target(t), target_device(d), block(b) {}

  bool sliding(int layer) const {
    if (!config.sliding_window) return false;
    if (config.layer_types.empty()) return true;
    return config.layer_types[layer] == model::AttentionKind::kSliding;
  }

  int kv_width() const { return config.num_kv_heads * config.head_dim; }
  int v_width() const { return config.num_kv_heads * config.v_head_dim; }

  // Room for `rows` cached positions, keeping the valid ones.
  void reserve(std::int64_t rows) {
    if (rows <= capacity) return;
    const std::int64_t grown = std::max<std::int64_t>({rows, 2 * capacity, 256});
    const std::int64_t valid = static_cast<std::int64_t>(positions.size());
    const auto regrow = [&](DeviceBuffer& buffer, std::size_t row_bytes) {
      DeviceBuffer bigger(std::size_t(grown) * row_bytes);
      if (valid > 0) {
        check(cudaMemcpyAsync(bigger.get(), buffer.get(), std::size_t(valid) * row_bytes,
                              cudaMemcpyDeviceToDevice, stream),
              "context cache growth");
      }
      check(cudaStreamSynchronize(stream), "context cache growth");
      buffer = std::move(bigger);
    };
    for (int l = 0; l < config.num_layers; ++l) {
      regrow(keys[l], std::size_t(kv_width()) * sizeof(float));
      regrow(values[l], std::size_t(v_width()) * sizeof(float));
    }
    regrow(device_positions, sizeof(int));
    capacity = grown;
  }

  // x [n, heads, hd] in place: per-head RMSNorm with `weight`, then RoPE at positions.
  void norm_and_rope(float* data, int n, int n_heads, const float* weight, const int* pos) {
    const int hd = config.head_dim;
    rmsnorm(data, nullptr, weight, n * n_heads, hd, static_cast<float>(config.rms_norm_eps), data,
            stream);
    rope(data, pos, n, n_heads, hd, config.rotary_dim, inv_freq, stream);
  }

  // Issues the block forward; the final-normed hidden states end in `h`.
  void issue_block(std::int32_t anchor, std::int64_t anchor_position) {
    const int b = block, hidden = config.hidden_size;
    const int heads = config.num_heads, kvh = config.num_kv_heads;
    const int hd = config.head_dim, vhd = config.v_head_dim, inter = config.intermediate_size;
    const float eps = static_cast<float>(config.rms_norm_eps);
    std::vector<int> host_ids(b, config.mask_token_id), host_pos(b);
    host_ids[0] = anchor;
    for (int i = 0; i < b; ++i) host_pos[i] = static_cast<int>(anchor_position + i);
    int* d_ids = reinterpret_cast<int*>(ensure(ids, b * sizeof(int)));
    int* d_pos = reinterpret_cast<int*>(ensure(block_pos, b * sizeof(int)));
    check(cudaMemcpyAsync(d_ids, host_ids.data(), b * sizeof(int), cudaMemcpyHostToDevice, stream),
          "block ids upload");
    check(cudaMemcpyAsync(d_pos, host_pos.data(), b * sizeof(int), cudaMemcpyHostToDevice, stream),
          "block positions upload");
    float* dx = ensure(x, std::size_t(b) * hidden * 4);
    float* dh = ensure(h, std::size_t(b) * hidden * 4);
    float* dd = ensure(delta, std::size_t(b) * hidden * 4);
    float* dq = ensure(q, std::size_t(b) * heads * hd * 4);
    float* dk = ensure(k, std::size_t(b) * kvh * hd * 4);
    float* dv = ensure(v, std::size_t(b) * kvh * vhd * 4);
    float* dheads = ensure(this->heads, std::size_t(b) * heads * vhd * 4);
    float* dgate = ensure(gate, std::size_t(b) * inter * 4);
    float* dup = ensure(up, std::size_t(b) * inter * 4);
    float* dact = ensure(act, std::size_t(b) * inter * 4);
    const DeviceModel& t = target_device;
    if (t.embed_format == MatrixFormat::kBf16) {
      embed(t.embed_bf16, d_ids, b, dx, stream);
    } else {
      embed(t.embed_f32, d_ids, b, dx, stream);
    }
    const std::int64_t n_ctx =
        std::lower_bound(positions.begin(), positions.end(), anchor_position) - positions.begin();
    tiles::DrafterAttentionShape shape;
    shape.num_heads = heads;
    shape.num_kv_heads = kvh;
    shape.head_dim = hd;
    shape.v_head_dim = vhd;
    shape.n_context = static_cast<int>(n_ctx);
    shape.block = b;
    shape.anchor = anchor_position;
    shape.score_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
    shape.value_scale = static_cast<float>(config.attention_value_scale);
    for (int l = 0; l < config.num_layers; ++l) {
      const DrafterLayer& w = layers[l];
      // The residual add of the previous layer's MLP is fused into this norm.
      rmsnorm(dx, l == 0 ? nullptr : dd, w.input_norm, b, hidden, eps, dh, stream);
      apply(w.q, dh, b, dq, stream);
      apply(w.k, dh, b, dk, stream);
      apply(w.v, dh, b, dv, stream);
      norm_and_rope(dq, b, heads, w.q_norm, d_pos);
      norm_and_rope(dk, b, kvh, w.k_norm, d_pos);
      shape.window = sliding(l) ? *config.sliding_window : -1;
      drafter_attention(shape, dq, keys[l].as<float>(), values[l].as<float>(),
                        device_positions.as<int>(), dk, dv, w.sinks, dheads, stream);
      apply(w.o, dheads, b, dd, stream);
      rmsnorm(dx, dd, w.post_attention_norm, b, hidden, eps, dh, stream);
      apply(w.gate, dh, b, dgate, stream);
      apply(w.up, dh, b, dup, stream);
      silu_mul(dgate, dup, std::size_t(b) * inter, dact, stream);
      apply(w.down, dact, b, dd, stream);
    }
    rmsnorm(dx, dd, final_norm, b, hidden, eps, dh, stream);
  }
};

GpuDrafter::GpuDrafter(const model::DrafterConfig& config, const spec::DrafterWeights& weights,
                       const model::ModelConfig& target, const DeviceModel& target_device,
                       int block_size)
    : impl_(std::make_unique<Impl>(config, target, target_device, block_size)) {
  Impl& m = *impl_;
  if (block_size < 2) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("GPU drafter: block size {} must be at least 2", block_size));
  }
  check(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  m.fc = upload_device_linear(weights.fc, m.arena);
  m.context_norm = upload_floats(weights.context_norm, m.arena);
  m.final_norm = upload_floats(weights.final_norm, m.arena);
  m.inv_freq = upload_floats(cpu::Rope(config.rotary_dim, config.rope_theta).inv_freq(), m.arena);
  for (const spec::DrafterLayerWeights& lw : weights.layers) {
    DrafterLayer d;
    d.input_norm = upload_floats(lw.input_norm, m.arena);
    d.post_attention_norm = upload_floats(lw.post_attention_norm, m.arena);
    d.q_norm = upload_floats(lw.q_norm, m.arena);
    d.k_norm = upload_floats(lw.k_norm, m.arena);
    d.sinks = upload_floats(lw.sink, m.arena);
    d.q = upload_device_linear(lw.q, m.arena);
    d.k = upload_device_linear(lw.k, m.arena);
    d.v = upload_device_linear(lw.v, m.arena);
    d.o = upload_device_linear(lw.o, m.arena);
    d.gate = upload_device_linear(lw.mlp.gate, m.arena);
    d.up = upload_device_linear(lw.mlp.up, m.arena);
    d.down = upload_device_linear(lw.mlp.down, m.arena);
    m.layers.push_back(d);
  }
  m.keys.resize(config.num_layers);
  m.values.resize(config.num_layers);
  m.reserve(256);
}

GpuDrafter::~GpuDrafter() {
  if (impl_->stream != nullptr) {
    cudaStreamSynchronize(impl_->stream);
    cudaStreamDestroy(impl_->stream);
  }
}

int GpuDrafter::block_size() const {
  return impl_->block;
}

std::int64_t GpuDrafter::context_rows() const {
  return static_cast<std::int64_t>(impl_->positions.size());
}

void GpuDrafter::add_context(std::int64_t first_position, const float* features,
                             std::int64_t rows) {
  Impl& m = *impl_;
  if (rows <= 0) return;
  if (!m.positions.empty() && first_position <= m.positions.back()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("GPU DFlash drafter: context position {} is not after the cached {}",
                            first_position, m.positions.back()));
  }
  const model::DrafterConfig& c = m.config;
  const std::int64_t valid = static_cast<std::int64_t>(m.positions.size());
  m.reserve(valid + rows);
  const int n = static_cast<int>(rows);
  const std::size_t feature_floats = std::size_t(rows) * m.fc.cols;
  float* d_features = ensure(m.features, feature_floats * 4);
  float* d_ctx = ensure(m.ctx, std::size_t(rows) * c.hidden_size * 4);
  float* d_k = ensure(m.ctx_k, std::size_t(rows) * m.kv_width() * 4);
  float* d_v = ensure(m.ctx_v, std::size_t(rows) * m.v_width() * 4);
  int* d_pos = reinterpret_cast<int*>(ensure(m.ctx_pos, std::size_t(rows) * sizeof(int)));
  std::vector<int> host_pos(n);
  for (int i = 0; i < n; ++i) host_pos[i] = static_cast<int>(first_position + i);
  check(cudaMemcpyAsync(d_features, features, feature_floats * 4, cudaMemcpyHostToDevice, m.stream),
        "features upload");
  check(cudaMemcpyAsync(d_pos, host_pos.data(), n * sizeof(int), cudaMemcpyHostToDevice, m.stream),
        "context positions upload");
  apply(m.fc, d_features, n, d_ctx, m.stream);
  rmsnorm(d_ctx, nullptr, m.context_norm, n, c.hidden_size, static_cast<float>(c.rms_norm_eps),
          d_ctx, m.stream);
  for (int l = 0; l < c.num_layers; ++l) {
    const DrafterLayer& w = m.layers[l];
    apply(w.k, d_ctx, n, d_k, m.stream);
    apply(w.v, d_ctx, n, d_v, m.stream);
    m.norm_and_rope(d_k, n, c.num_kv_heads, w.k_norm, d_pos);
    check(cudaMemcpyAsync(m.keys[l].as<float>() + valid * m.kv_width(), d_k,
                          std::size_t(rows) * m.kv_width() * 4, cudaMemcpyDeviceToDevice, m.stream),
          "context keys append");
    check(cudaMemcpyAsync(m.values[l].as<float>() + valid * m.v_width(), d_v,
                          std::size_t(rows) * m.v_width() * 4, cudaMemcpyDeviceToDevice, m.stream),
          "context values append");
  }
  check(cudaMemcpyAsync(m.device_positions.as<int>() + valid, d_pos, n * sizeof(int),
                        cudaMemcpyDeviceToDevice, m.stream),
        "context positions append");
  // host_pos / features are pageable host memory read by the copies above: wait for them.
  check(cudaStreamSynchronize(m.stream), "context projection");
  for (int i = 0; i < n; ++i) m.positions.push_back(first_position + i);
}

void GpuDrafter::truncate(std::int64_t length) {
  Impl& m = *impl_;
  const auto keep = std::lower_bound(m.positions.begin(), m.positions.end(), length);
  m.positions.erase(keep, m.positions.end());
}

std::vector<float> GpuDrafter::block_hidden(std::int32_t anchor, std::int64_t anchor_position) {
  Impl& m = *impl_;
  m.issue_block(anchor, anchor_position);
  std::vector<float> out(std::size_t(m.block) * m.config.hidden_size);
  check(cudaMemcpyAsync(out.data(), m.h.get(), out.size() * 4, cudaMemcpyDeviceToHost, m.stream),
        "hidden download");
  check(cudaStreamSynchronize(m.stream), "block forward");
  return out;
}

std::vector<std::int32_t> GpuDrafter::propose(std::int32_t anchor, std::int64_t anchor_position,
                                              int count) {
  Impl& m = *impl_;
  count = std::min(count, m.block - 1);
  if (count <= 0) return {};
  m.issue_block(anchor, anchor_position);
  const int vocab = m.target.vocab_size, hidden = m.config.hidden_size;
  float* d_logits = ensure(m.logits, std::size_t(count) * vocab * 4);
  int* d_drafts = reinterpret_cast<int*>(ensure(m.drafts, std::size_t(m.block) * sizeof(int)));
  apply(m.target_device.lm_head, m.h.as<float>() + hidden, count, d_logits, m.stream);
  argmax(d_logits, count, vocab, d_drafts, m.stream);
  std::vector<std::int32_t> drafts(count);
  check(cudaMemcpyAsync(drafts.data(), d_drafts, count * sizeof(int), cudaMemcpyDeviceToHost,
                        m.stream),
        "drafts download");
  check(cudaStreamSynchronize(m.stream), "block forward");
  return drafts;
}

}  // namespace mimo::cuda
