// The GPU drafter's op-by-op forms (drafters the persistent passes do not take, and the A/B
// switch): the forward of lib/spec/dflash_drafter.cpp issued with the executor's kernels (linear,
// rmsnorm, rope, silu_mul, embed) plus the drafter's non-causal attention.
#include <cuda_runtime.h>

#include <cmath>

#include "cuda/stream/gpu_drafter_impl.hpp"

namespace mimo::cuda {

// x [n, heads, hd] in place: per-head RMSNorm with `weight`, then RoPE at positions.
void GpuDrafter::Impl::norm_and_rope(float* data, int n, int n_heads, const float* weight,
                                     const int* pos) {
  const int hd = config.head_dim;
  rmsnorm(data, nullptr, weight, n * n_heads, hd, static_cast<float>(config.rms_norm_eps), data,
          stream);
  rope(data, pos, n, n_heads, hd, config.rotary_dim, inv_freq, stream);
}

// The block forward launched op by op (drafters the persistent pass does not take).
void GpuDrafter::Impl::issue_block_ops(const tiles::DrafterStepInputs* inputs) {
  const int b = block, hidden = config.hidden_size;
  int* d_ids = ids.as<int>();
  int* d_pos = block_pos.as<int>();
  drafter_block_inputs(inputs, b, config.mask_token_id, d_ids, d_pos, stream);
  const int n_heads = config.num_heads, kvh = config.num_kv_heads;
  const int hd = config.head_dim, vhd = config.v_head_dim, inter = config.intermediate_size;
  const float eps = static_cast<float>(config.rms_norm_eps);
  float* dx = x.as<float>();
  float* dh = h.as<float>();
  float* dd = delta.as<float>();
  float* dq = q.as<float>();
  float* dk = k.as<float>();
  float* dv = v.as<float>();
  float* dheads = heads.as<float>();
  const DeviceModel& t = target_device;
  if (t.embed_format == MatrixFormat::kBf16) {
    embed(t.embed_bf16, d_ids, b, dx, stream);
  } else {
    embed(t.embed_f32, d_ids, b, dx, stream);
  }
  if (mask_embedding != nullptr) {  // the drafter's own mask input replaces rows 1 .. b-1
    const std::size_t row_bytes = static_cast<std::size_t>(hidden) * sizeof(float);
    for (int i = 1; i < b; ++i) {
      drafter_check(cudaMemcpyAsync(dx + static_cast<std::size_t>(i) * hidden, mask_embedding,
                                    row_bytes, cudaMemcpyDeviceToDevice, stream),
                    "mask embedding copy");
    }
  }
  tiles::DrafterAttentionShape shape;
  shape.num_heads = n_heads;
  shape.num_kv_heads = kvh;
  shape.head_dim = hd;
  shape.v_head_dim = vhd;
  shape.block = b;
  shape.score_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  shape.value_scale = static_cast<float>(config.attention_value_scale);
  for (int l = 0; l < config.num_layers; ++l) {
    const DrafterLayer& w = layers[l];
    // The residual add of the previous layer's MLP is fused into this norm.
    rmsnorm(dx, l == 0 ? nullptr : dd, w.input_norm, b, hidden, eps, dh, stream);
    apply(w.q, dh, b, dq, stream);
    apply(w.k, dh, b, dk, stream);
    apply(w.v, dh, b, dv, stream);
    norm_and_rope(dq, b, n_heads, w.q_norm, d_pos);
    norm_and_rope(dk, b, kvh, w.k_norm, d_pos);
    shape.window = sliding(l) ? *config.sliding_window : -1;
    drafter_attention(shape, inputs, dq, keys[l].as<float>(), values[l].as<float>(),
                      device_positions.as<int>(), dk, dv, w.sinks, dheads, stream);
    apply(w.o, dheads, b, dd, stream);
    rmsnorm(dx, dd, w.post_attention_norm, b, hidden, eps, dh, stream);
    apply(w.gate, dh, b, gate.as<float>(), stream);
    apply(w.up, dh, b, up.as<float>(), stream);
    silu_mul(gate.as<float>(), up.as<float>(), std::size_t(b) * inter, act.as<float>(), stream);
    apply(w.down, act.as<float>(), b, dd, stream);
  }
  rmsnorm(dx, dd, final_norm, b, hidden, eps, dh, stream);
}

void GpuDrafter::Impl::issue_context_ops(int n) {
  const model::DrafterConfig& c = config;
  float* d_ctx = ctx.as<float>();
  float* d_k = ctx_k.as<float>();
  float* d_v = ctx_v.as<float>();
  const int* d_pos = ctx_pos.as<int>();
  apply(fc, features.as<float>(), n, d_ctx, stream);
  rmsnorm(d_ctx, nullptr, context_norm, n, c.hidden_size, static_cast<float>(c.rms_norm_eps), d_ctx,
          stream);
  for (int l = 0; l < c.num_layers; ++l) {
    const DrafterLayer& w = layers[l];
    apply(w.k, d_ctx, n, d_k, stream);
    apply(w.v, d_ctx, n, d_v, stream);
    norm_and_rope(d_k, n, c.num_kv_heads, w.k_norm, d_pos);
    drafter_append_rows(keys[l].get(), d_k, n, kv_width(), append_at.as<int>(), stream);
    drafter_append_rows(values[l].get(), d_v, n, v_width(), append_at.as<int>(), stream);
  }
  drafter_append_rows(device_positions.get(), d_pos, n, 1, append_at.as<int>(), stream);
}

}  // namespace mimo::cuda
