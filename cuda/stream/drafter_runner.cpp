// DrafterRunner (see drafter_runner.hpp): one case per drafter op, each the kernels GpuDrafter
// issued for it before the passes were programs (the same launches in the same order).
#include "cuda/stream/drafter_runner.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cmath>

#include "cuda/kernels/drafter_ops.hpp"
#include "cuda/runtime/device_model.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {

using program::Op;
using program::OpKind;

namespace {

// Where the block's q / k / v rows are after the kQkv op: one stacked product's columns side by
// side, or three buffers.
DrafterQkvRows qkv_rows(const DrafterLayer& lw, const model::DrafterConfig& c,
                        const DrafterPassBuffers& b) {
  const int q_width = c.num_heads * c.head_dim, kv_width = c.num_kv_heads * c.head_dim;
  if (lw.qkv.rows > 0) {  // one product [q | k | v] a row
    return {b.stacked,   b.stacked + q_width, b.stacked + q_width + kv_width,
            lw.qkv.rows, lw.qkv.rows,         lw.qkv.rows};
  }
  return {b.q, b.k, b.v, q_width, kv_width, c.num_kv_heads * c.v_head_dim};
}

}  // namespace

DrafterRunner::DrafterRunner(const model::DrafterConfig& config, const model::ModelConfig& target,
                             const DrafterDeviceWeights& weights, const DeviceModel& head)
    : config_(config), target_(target), w_(weights), head_(head) {}

bool DrafterRunner::sliding(int layer) const {
  if (!config_.sliding_window) return false;
  if (config_.layer_types.empty()) return true;
  return config_.layer_types[layer] == model::AttentionKind::kSliding;
}

void DrafterRunner::run(const program::DrafterProgram& program, const DrafterPassBuffers& b,
                        Stream stream) const {
  for (const Op& op : program.ops) issue(op, program.shape, b, stream);
}

void DrafterRunner::issue(const Op& op, const program::DrafterShape& shape,
                          const DrafterPassBuffers& b, Stream stream) const {
  const int c = shape.context, n = shape.block;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  switch (op.kind) {
    case OpKind::kContextFc:
      apply(w_.fc, b.features, c, b.context, stream);
      return;
    case OpKind::kContextNorm:
      rmsnorm(b.context, nullptr, w_.context_norm, c, config_.hidden_size, eps, b.context, stream);
      return;
    case OpKind::kContextKv:
      context_kv(op.layer, c, b, stream);
      return;
    case OpKind::kStoreContext:
      store_context(op.layer, c, b, stream);
      return;
    case OpKind::kBlockEmbed:
      block_embed(n, b, stream);
      return;
    case OpKind::kAddNorm:
      add_norm(op, n, b, stream);
      return;
    case OpKind::kQkv:
      qkv(op.layer, n, b, stream);
      return;
    case OpKind::kQkNormRope:
      qk_norm_rope(op.layer, n, b, stream);
      return;
    case OpKind::kBlockAttention:
      attention(op.layer, n, b, stream);
      return;
    case OpKind::kOutProj:
      apply(w_.layers[op.layer].o, b.heads, n, b.delta, stream);
      return;
    case OpKind::kDenseMlp:
      dense_mlp(op.layer, n, b, stream);
      return;
    case OpKind::kDraftLogits:  // rows 1 .. draft_rows of the block
      apply(head_.lm_head, b.h + config_.hidden_size, shape.draft_rows, b.logits, stream);
      return;
    case OpKind::kArgmax:
      argmax(b.logits, shape.draft_rows, target_.vocab_size, b.drafts, stream);
      return;
    default:
      throw Error(ErrorCode::kInternal,
                  fmt::format("GPU drafter: op {} is not a drafter op", static_cast<int>(op.kind)));
  }
}

void DrafterRunner::block_embed(int n, const DrafterPassBuffers& b, Stream stream) const {
  drafter_block_inputs(b.inputs, n, config_.mask_token_id, b.ids, b.positions, stream);
  if (head_.embed_format == MatrixFormat::kBf16) {
    embed(head_.embed_bf16, b.ids, n, b.x, stream);
  } else {
    embed(head_.embed_f32, b.ids, n, b.x, stream);
  }
  if (w_.mask_rows != nullptr) {  // the drafter's own mask input replaces rows 1 .. n-1
    const int hidden = config_.hidden_size;
    const cudaError_t err = cudaMemcpyAsync(
        b.x + hidden, w_.mask_rows, static_cast<std::size_t>(n - 1) * hidden * sizeof(float),
        cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream));
    if (err != cudaSuccess) {
      throw Error(ErrorCode::kDevice,
                  fmt::format("GPU drafter, mask embedding copy: {}", cudaGetErrorString(err)));
    }
  }
}

void DrafterRunner::add_norm(const Op& op, int n, const DrafterPassBuffers& b,
                             Stream stream) const {
  const float* weight = nullptr;
  switch (op.norm) {
    case program::Norm::kInput:
      weight = w_.layers.at(op.layer).input_norm;
      break;
    case program::Norm::kPostAttention:
      weight = w_.layers.at(op.layer).post_attention_norm;
      break;
    case program::Norm::kFinal:
      weight = w_.final_norm;
      break;
  }
  rmsnorm(b.x, op.add ? b.delta : nullptr, weight, n, config_.hidden_size,
          static_cast<float>(config_.rms_norm_eps), b.h, stream);
}

void DrafterRunner::qkv(int layer, int n, const DrafterPassBuffers& b, Stream stream) const {
  const DrafterLayer& lw = w_.layers[layer];
  if (lw.qkv.rows > 0) {
    apply(lw.qkv, b.h, n, b.stacked, stream);
  } else {
    apply(lw.q, b.h, n, b.q, stream);
    apply(lw.k, b.h, n, b.k, stream);
    apply(lw.v, b.h, n, b.v, stream);
  }
}

void DrafterRunner::qk_norm_rope(int layer, int n, const DrafterPassBuffers& b,
                                 Stream stream) const {
  const DrafterLayer& lw = w_.layers[layer];
  const model::DrafterConfig& c = config_;
  drafter_qkv_norm_rope(qkv_rows(lw, c, b), n, c.num_heads, c.num_kv_heads, c.head_dim,
                        c.v_head_dim, lw.q_norm, lw.k_norm, static_cast<float>(c.rms_norm_eps),
                        c.rotary_dim, w_.inv_freq, b.positions, b.q, b.k, b.v, stream);
}

tiles::DrafterAttentionShape DrafterRunner::attention_shape(int layer, int n) const {
  const model::DrafterConfig& c = config_;
  tiles::DrafterAttentionShape shape;
  shape.num_heads = c.num_heads;
  shape.num_kv_heads = c.num_kv_heads;
  shape.head_dim = c.head_dim;
  shape.v_head_dim = c.v_head_dim;
  shape.block = n;
  shape.score_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  shape.value_scale = static_cast<float>(c.attention_value_scale);
  shape.window = sliding(layer) ? *c.sliding_window : -1;
  return shape;
}

void DrafterRunner::attention(int layer, int n, const DrafterPassBuffers& b, Stream stream) const {
  drafter_attention(attention_shape(layer, n), b.inputs, b.q, b.keys[layer], b.values[layer],
                    b.cache_positions, b.k, b.v, w_.layers[layer].sinks, b.heads, stream);
}

void DrafterRunner::dense_mlp(int layer, int n, const DrafterPassBuffers& b, Stream stream) const {
  const DrafterLayer& lw = w_.layers[layer];
  const int inter = config_.intermediate_size;
  if (lw.gate_up.rows > 0) {  // one product [gate | up] a row
    apply(lw.gate_up, b.h, n, b.stacked, stream);
    drafter_silu_mul_rows(b.stacked, n, inter, b.act, stream);
  } else {
    apply(lw.gate, b.h, n, b.gate, stream);
    apply(lw.up, b.h, n, b.up, stream);
    silu_mul(b.gate, b.up, std::size_t(n) * inter, b.act, stream);
  }
  apply(lw.down, b.act, n, b.delta, stream);
}

void DrafterRunner::context_kv(int layer, int n, const DrafterPassBuffers& b, Stream stream) const {
  const DrafterLayer& lw = w_.layers[layer];
  if (lw.kv.rows > 0) {  // one product [k | v] a row, in the k scratch
    apply(lw.kv, b.context, n, b.ctx_k, stream);
  } else {
    apply(lw.k, b.context, n, b.ctx_k, stream);
    apply(lw.v, b.context, n, b.ctx_v, stream);
  }
}

void DrafterRunner::store_context(int layer, int n, const DrafterPassBuffers& b,
                                  Stream stream) const {
  const DrafterLayer& lw = w_.layers[layer];
  const model::DrafterConfig& c = config_;
  const int kv_width = c.num_kv_heads * c.head_dim;
  DrafterQkvRows rows;
  rows.k = b.ctx_k;
  if (lw.kv.rows > 0) {
    rows.v = b.ctx_k + kv_width;
    rows.k_stride = rows.v_stride = lw.kv.rows;
  } else {
    rows.v = b.ctx_v;
    rows.k_stride = kv_width;
    rows.v_stride = c.num_kv_heads * c.v_head_dim;
  }
  // The last layer's store also records the rows' positions (the cache's position list).
  drafter_context_kv(rows, n, c.num_kv_heads, c.head_dim, c.v_head_dim, lw.k_norm,
                     static_cast<float>(c.rms_norm_eps), c.rotary_dim, w_.inv_freq, b.ctx_positions,
                     b.append_at, b.keys[layer], b.values[layer],
                     layer + 1 == c.num_layers ? b.cache_positions : nullptr, stream);
}

// ---- the block pass as one kernel ----

DrafterBlockPass DrafterRunner::block_pass(const program::DrafterProgram& program,
                                           const DrafterPassBuffers& b, bool fold) const {
  const model::DrafterConfig& c = config_;
  DrafterBlockPass p;
  p.block = program.shape.block;
  p.hidden = c.hidden_size;
  p.inter = c.intermediate_size;
  p.num_layers = c.num_layers;
  p.heads = c.num_heads;
  p.kv_heads = c.num_kv_heads;
  p.head_dim = c.head_dim;
  p.v_head_dim = c.v_head_dim;
  p.rotary_half = c.rotary_dim / 2;
  p.mask_token = c.mask_token_id;
  p.eps = static_cast<float>(c.rms_norm_eps);
  p.embed_bf16 = head_.embed_format == MatrixFormat::kBf16;
  p.embed_table_bf16 = head_.embed_bf16;
  p.embed_table_f32 = head_.embed_f32;
  p.mask_rows = w_.mask_rows;
  p.inv_freq = w_.inv_freq;
  p.final_norm = w_.final_norm;
  p.inputs = b.inputs;
  p.cache_positions = b.cache_positions;
  p.ids = b.ids;
  p.positions = b.positions;
  p.x = b.x;
  p.x_other = b.x_other;
  p.delta = b.delta;
  p.stacked = b.stacked;
  p.heads_out = b.heads;
  p.out = b.h;
  p.context_fold = fold;
  p.context_norm = w_.context_norm;
  p.features = b.deferred;
  p.context = b.fold_context;
  p.context_kv = b.fold_kv;
  if (c.num_layers > kDrafterBlockMaxLayers) return p;  // drafter_block_unsupported says why
  const auto bf16 = [](const DeviceLinear& w) {
    return w.format == MatrixFormat::kBf16 && w.rows > 0 ? w.bf16 : Bf16Matrix{};
  };
  const auto warps = [](const DeviceLinear& w) {
    return w.format == MatrixFormat::kBf16 && w.cols % 64 == 0 ? bf16_linear_warps(w.bf16) : 0;
  };
  p.fc = bf16(w_.fc);
  p.fc_warps = warps(w_.fc);
  for (int l = 0; l < c.num_layers; ++l) {
    const DrafterLayer& lw = w_.layers[l];
    DrafterBlockLayer& out = p.layers[l];
    out.kv = bf16(lw.kv);
    out.kv_warps = warps(lw.kv);
    out.qkv = bf16(lw.qkv);
    out.o = bf16(lw.o);
    out.gate_up = bf16(lw.gate_up);
    out.down = bf16(lw.down);
    out.qkv_warps = warps(lw.qkv);
    out.o_warps = warps(lw.o);
    out.gate_up_warps = warps(lw.gate_up);
    out.down_warps = warps(lw.down);
    out.input_norm = lw.input_norm;
    out.post_norm = lw.post_attention_norm;
    out.q_norm = lw.q_norm;
    out.k_norm = lw.k_norm;
    out.sinks = lw.sinks;
    out.keys = b.keys.at(l);
    out.values = b.values.at(l);
    out.attention = attention_shape(l, p.block);
  }
  return p;
}

std::string DrafterRunner::fused_block_unsupported(const program::DrafterProgram& program,
                                                   const DrafterPassBuffers& b, bool fold) const {
  if (program.shape.block < 2 || program.shape.context > 0)
    return "not a block-only drafter program";
  if (b.x_other == nullptr) return "no second residual buffer";
  for (int l = 0; l < config_.num_layers; ++l) {
    if (w_.layers[l].q_norm == nullptr || w_.layers[l].k_norm == nullptr)
      return fmt::format("layer {}: no q_norm / k_norm", l);
  }
  const DrafterBlockPass pass = block_pass(program, b, fold);
  std::string why = drafter_block_unsupported(pass);
  if (why.empty() && fold) why = drafter_block_context_unsupported(pass);
  return why;
}

int DrafterRunner::fused_block_cluster(const program::DrafterProgram& program,
                                       const DrafterPassBuffers& b, bool fold) const {
  return drafter_block_cluster_size(block_pass(program, b, fold));
}

void DrafterRunner::run_fused_block(const program::DrafterProgram& program,
                                    const DrafterPassBuffers& b, int cluster, bool fold,
                                    Stream stream) const {
  drafter_block_pass(block_pass(program, b, fold), cluster, stream);
  for (const Op& op : program.ops) {
    if (op.kind == OpKind::kDraftLogits || op.kind == OpKind::kArgmax)
      issue(op, program.shape, b, stream);
  }
}

}  // namespace mimo::cuda
