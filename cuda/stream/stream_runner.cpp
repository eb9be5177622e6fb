// StreamRunner: each op of a step program as the kernels of cuda/kernels (see stream_runner.hpp).
// The residual add of each block is fused into the next RMSNorm; the tensor-core tiles read the
// normed rows (and the experts' activations) split once into F16 hi + lo by their producer
// instead of re-splitting them in every block.
#include "cuda/stream/stream_runner.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "cuda/kernels/cuda_check.hpp"
#include "cuda/kernels/step_ops.hpp"
#include "cuda/runtime/device_model.hpp"
#include "cuda/runtime/expert_tables.hpp"
#include "cuda/runtime/layer_shapes.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {

using program::Op;
using program::OpKind;

StreamRunner::StreamRunner(const model::ModelConfig& config, const DeviceModel& model)
    : config_(config), model_(model) {
  int moe = 0;
  for (const model::LayerSpec& l : config.layers) {
    moe_index_.push_back(l.mlp == model::MlpKind::kMoe ? moe++ : -1);
  }
}

void StreamRunner::issue(const Op& op, const program::StepShape& shape, GpuState& s, Stream st,
                         const Mark& mark) const {
  const int n = shape.tokens;
  switch (op.kind) {
    case OpKind::kEmbed:
      if (model_.embed_format == MatrixFormat::kBf16) {
        embed(model_.embed_bf16, s.scratch.tokens.as<int>(), n, s.scratch.x.as<float>(), st);
      } else {
        embed(model_.embed_f32, s.scratch.tokens.as<int>(), n, s.scratch.x.as<float>(), st);
      }
      mark("embed");
      return;
    case OpKind::kAddNorm:
      add_norm(op, n, s, st);
      mark("rmsnorm");
      return;
    case OpKind::kQkv:
      qkv(op.layer, n, s, st);
      mark("qkv linear");
      return;
    case OpKind::kRopeStoreKv:
      rope_store_kv(op.layer, n, s, st);
      mark("rope + store kv");
      return;
    case OpKind::kAttention:
      attention(op.layer, n, s, st);
      mark("attention");
      return;
    case OpKind::kOutProj:
      out_proj(op.layer, n, s, st);
      mark("o linear");
      return;
    case OpKind::kDenseMlp:
      dense_mlp(op.layer, n, s, st);
      mark("dense mlp");
      return;
    case OpKind::kRoute:
      route(op.layer, n, s, st);
      mark("router");
      return;
    case OpKind::kExperts:
      experts(op.layer, n, s, st, mark);
      return;
    case OpKind::kTap:
      tap(op, n, static_cast<int>(shape.taps.size()), s, st);
      return;
    case OpKind::kLmHead:
      lm_head(op, n, s, st);
      mark("lm_head");
      return;
    case OpKind::kSample:
      sample(op, n, shape.sample_mode, s, st);
      return;
    case OpKind::kAllReduce:
    case OpKind::kAllGather:
    case OpKind::kContextFc:  // drafter programs: the GPU drafter's own code runs them
    case OpKind::kContextNorm:
    case OpKind::kContextKv:
    case OpKind::kStoreContext:
    case OpKind::kBlockEmbed:
    case OpKind::kQkNormRope:
    case OpKind::kBlockAttention:
    case OpKind::kDraftLogits:
    case OpKind::kArgmax:
      break;
  }
  throw Error(ErrorCode::kInternal, std::string("stream runner: op '") + program::name(op.kind) +
                                        "' needs another runner");
}

void StreamRunner::add_norm(const Op& op, int n, GpuState& s, Stream st) const {
  GpuState::Scratch& b = s.scratch;
  const float* weight = op.norm == program::Norm::kFinal ? model_.final_norm
                        : op.norm == program::Norm::kInput
                            ? model_.layers[op.layer].input_norm
                            : model_.layers[op.layer].post_attention_norm;
  const float* add = op.add ? b.delta.as<float>() : nullptr;
  const int hidden = config_.hidden_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  // The final norm feeds the BF16 lm_head, which reads h itself: no split.
  if (hidden % 8 == 0 && op.norm != program::Norm::kFinal) {
    rmsnorm(b.x.as<float>(), add, weight, n, hidden, eps, b.h.as<float>(), b.split(hidden), st);
  } else {
    rmsnorm(b.x.as<float>(), add, weight, n, hidden, eps, b.h.as<float>(), st);
  }
}

void StreamRunner::apply_normed(const DeviceLinear& w, int n, GpuState& s, float* y,
                                Stream st) const {
  const int hidden = config_.hidden_size;
  if (hidden % 8 == 0 && w.format == MatrixFormat::kFp8 && fp8_on_tensor_cores(w.fp8)) {
    if (s.prefill_gemm(n)) {
      prefill_linear(w.fp8, s.scratch.split(hidden), n, y, st);
    } else {
      linear(w.fp8, s.scratch.split(hidden), n, y, st);
    }
  } else {
    apply(w, s.scratch.h.as<float>(), n, y, st);
  }
}

void StreamRunner::apply_normed_batch(std::span<const NormedOutput> outputs, int n, GpuState& s,
                                      Stream st) const {
  // Projections of the same normed rows in one launch when all are FP8 on tensor cores; else
  // one launch each.
  Fp8Batch batch;
  bool batched = config_.hidden_size % 8 == 0;
  for (const NormedOutput& o : outputs) {
    if (!batched || o.w->format != MatrixFormat::kFp8 || !fp8_on_tensor_cores(o.w->fp8) ||
        batch.count == kMaxFp8Batch) {
      batched = false;
      break;
    }
    batch.w[batch.count] = o.w->fp8;
    batch.y[batch.count++] = o.y;
  }
  if (batched) {
    if (s.prefill_gemm(n)) {
      prefill_linear(batch, s.scratch.split(config_.hidden_size), n, st);
    } else {
      linear(batch, s.scratch.split(config_.hidden_size), n, st);
    }
    return;
  }
  for (const NormedOutput& o : outputs) apply_normed(*o.w, n, s, o.y, st);
}

void StreamRunner::qkv(int layer, int n, GpuState& s, Stream st) const {
  const DeviceLayer& w = model_.layers[layer];
  GpuState::Scratch& b = s.scratch;
  const NormedOutput outputs[] = {
      {&w.q, b.q.as<float>()}, {&w.k, b.k.as<float>()}, {&w.v, b.v.as<float>()}};
  apply_normed_batch(outputs, n, s, st);
}

void StreamRunner::rope_store_kv(int layer, int n, GpuState& s, Stream st) const {
  GpuState::Scratch& b = s.scratch;
  const bool sliding = config_.layers[layer].attention == model::AttentionKind::kSliding;
  const float* inv_freq = sliding ? model_.sliding_inv_freq : model_.full_inv_freq;
  cuda::rope_store_kv(b.q.as<float>(), b.k.as<float>(), b.v.as<float>(), b.positions.as<int>(), n,
                      attention_shape(config_, layer), config_.attention(layer).rotary_dim,
                      inv_freq, static_cast<float>(config_.attention_value_scale), s.cache(layer),
                      st);
}

void StreamRunner::attention(int layer, int n, GpuState& s, Stream st) const {
  GpuState::Scratch& b = s.scratch;
  const AttentionShape shape = attention_shape(config_, layer);
  const float* sinks = model_.layers[layer].sinks;
  // Steps longer than the partials hold (prompt chunks; the persistent engine hands exactly these
  // to the stream runner) take the prefill kernel, which reads each key tile once per block of
  // query rows. Decode and verify steps keep the decode kernels and their bits.
  if (n > s.attention_tokens() && prefill_attention_supports(shape)) {
    prefill_attention(b.q.as<float>(), b.positions.as<int>(), n, shape, s.cache(layer), sinks,
                      b.heads.as<float>(), st);
    return;
  }
  // Otherwise in launches of at most attention_tokens() tokens: a token's result does not depend
  // on which tokens share its launch.
  const std::size_t q_row = std::size_t(shape.num_heads) * shape.head_dim;
  const std::size_t out_row = std::size_t(shape.num_heads) * shape.v_head_dim;
  for (int t0 = 0; t0 < n; t0 += s.attention_tokens()) {
    cuda::attention(b.q.as<float>() + t0 * q_row, b.positions.as<int>() + t0,
                    std::min(s.attention_tokens(), n - t0), shape, s.cache(layer), sinks,
                    b.heads.as<float>() + t0 * out_row, st, b.attention_partial.as<float>(),
                    s.attention_key_segments(layer), b.attention_arrivals());
  }
}

void StreamRunner::out_proj(int layer, int n, GpuState& s, Stream st) const {
  GpuState::Scratch& b = s.scratch;
  const DeviceLinear& o = model_.layers[layer].o;
  const model::AttentionSpec& a = config_.attention(layer);
  const int heads_width = a.num_heads * a.v_head_dim;
  if (o.format == MatrixFormat::kFp8 && fp8_on_tensor_cores(o.fp8) && heads_width % 8 == 0) {
    // Split once (one launch) rather than in every block of the o projection, which would
    // split each of its token's chunks twice over (hi and lo lanes).
    const SplitActivations split_heads = b.split(heads_width);
    split_activations(b.heads.as<float>(), n, heads_width, split_heads, st);
    if (s.prefill_gemm(n)) {
      prefill_linear(o.fp8, split_heads, n, b.delta.as<float>(), st);
    } else {
      linear(o.fp8, split_heads, n, b.delta.as<float>(), st);
    }
  } else {
    apply(o, b.heads.as<float>(), n, b.delta.as<float>(), st);
  }
}

void StreamRunner::dense_mlp(int layer, int n, GpuState& s, Stream st) const {
  GpuState::Scratch& b = s.scratch;
  const DeviceLayer& w = model_.layers[layer];
  float* gate = b.gate.as<float>();
  float* up = b.up.as<float>();
  float* act = b.act.as<float>();
  const NormedOutput outputs[] = {{&w.gate, gate}, {&w.up, up}};
  apply_normed_batch(outputs, n, s, st);
  silu_mul(gate, up, std::size_t(n) * w.gate.rows, act, st);
  const int inter = w.down.cols;
  if (s.prefill_gemm(n) && w.down.format == MatrixFormat::kFp8 && fp8_on_tensor_cores(w.down.fp8) &&
      inter % 8 == 0) {
    // The GEMM reads split rows: act split once (the normed rows' split is spent by now).
    const SplitActivations split_act = b.split(inter);
    split_activations(act, n, inter, split_act, st);
    prefill_linear(w.down.fp8, split_act, n, b.delta.as<float>(), st);
  } else {
    apply(w.down, act, n, b.delta.as<float>(), st);
  }
}

void StreamRunner::route(int layer, int n, GpuState& s, Stream st) const {
  GpuState::Scratch& b = s.scratch;
  const DeviceLayer& w = model_.layers[layer];
  const int top_k = config_.num_experts_per_tok;
  const auto [experts, weights] = s.routes(moe_index_[layer]);
  apply(w.router, b.h.as<float>(), n, b.router_logits.as<float>(), st);
  RouterShape r;
  r.num_experts = config_.n_routed_experts;
  r.top_k = top_k;
  r.n_group = config_.n_group;
  r.topk_group = config_.topk_group;
  r.norm_topk_prob = config_.norm_topk_prob;
  r.routed_scaling_factor = static_cast<float>(config_.routed_scaling_factor);
  const DeviceExperts& e = w.experts;
  int* groups = b.expert_groups.as<int>();
  if (e.stacked && e.gate_stack.count == r.num_experts) {
    route_and_group(b.router_logits.as<float>(), w.router_bias, n, r, experts, weights, groups, st);
  } else {
    cuda::route(b.router_logits.as<float>(), w.router_bias, n, r, experts, weights, st);
    if (e.stacked) group_experts(experts, n, top_k, e.gate_stack.count, groups, st);
  }
}

void StreamRunner::experts(int layer, int n, GpuState& s, Stream st, const Mark& mark) const {
  GpuState::Scratch& b = s.scratch;
  const DeviceExperts& e = model_.layers[layer].experts;
  const int top_k = config_.num_experts_per_tok;
  const auto [experts, weights] = s.routes(moe_index_[layer]);
  const int* groups = b.expert_groups.as<int>();
  float* act = b.act.as<float>();
  float* delta = b.delta.as<float>();
  const int hidden = config_.hidden_size;
  if (!e.stacked) {
    float* gate = b.gate.as<float>();
    float* up = b.up.as<float>();
    expert_table_rows(e.gate, b.h.as<float>(), experts, n, top_k, gate, st);
    expert_table_rows(e.up, b.h.as<float>(), experts, n, top_k, up, st);
    silu_mul(gate, up, std::size_t(n) * top_k * e.gate.rows, act, st);
    mark("experts gate/up");
    expert_table_down(e.down, act, experts, weights, n, top_k, delta, st);
    mark("experts down");
    return;
  }
  const int inter = e.gate_stack.rows;
  // Prefill chunks on the experts' prefill GEMM (the FP8 linears' rule, so decode and verify
  // steps keep the grouped kernels' bits); it reads split rows on both sides.
  const bool gemm = s.prefill_gemm(n) && hidden % 8 == 0 && inter % 8 == 0;
  if (gemm) {
    prefill_expert_gate_up(e.gate_stack, e.up_stack, b.split(hidden), groups, n, top_k, act, st);
  } else if (hidden % 8 == 0) {
    expert_gate_up(e.gate_stack, e.up_stack, b.split(hidden), groups, n, top_k, act, st);
  } else {
    expert_gate_up(e.gate_stack, e.up_stack, b.h.as<float>(), groups, n, top_k, act, st);
  }
  mark("experts gate/up");
  if (inter % 8 == 0) {  // the split rows of h are spent: the buffers take act's
    const SplitActivations split_act = b.split(inter);
    split_activations(act, n * top_k, inter, split_act, st);
    if (gemm) {
      prefill_expert_down(e.down_stack, split_act, groups, weights, n, top_k,
                          b.expert_partial.as<float>(), delta, st);
    } else {
      expert_down(e.down_stack, split_act, groups, weights, n, top_k, b.expert_partial.as<float>(),
                  delta, st);
    }
  } else {
    expert_down(e.down_stack, act, groups, weights, n, top_k, b.expert_partial.as<float>(), delta,
                st);
  }
  mark("experts down");
}

void StreamRunner::tap(const Op& op, int n, int n_taps, GpuState& s, Stream st) const {
  GpuState::Scratch& b = s.scratch;
  const std::size_t hidden = config_.hidden_size;
  const float* from = op.source == program::Buffer::kNormed ? b.h.as<float>() : b.x.as<float>();
  check(cudaMemcpy2DAsync(b.taps.as<float>() + std::size_t(op.slot) * hidden,
                          std::size_t(n_taps) * hidden * sizeof(float), from,
                          hidden * sizeof(float), hidden * sizeof(float), n,
                          cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(st)),
        "copy of a hidden tap");
}

void StreamRunner::lm_head(const Op& op, int n, GpuState& s, Stream st) const {
  GpuState::Scratch& b = s.scratch;
  const float* h = b.h.as<float>();
  if (op.all_rows) {
    apply(model_.lm_head, h, n, b.logits.as<float>(), st);
  } else {
    apply(model_.lm_head, h + std::size_t(n - 1) * config_.hidden_size, 1, b.logits.as<float>(),
          st);
  }
}

void StreamRunner::sample(const Op& op, int n, int sample_mode, GpuState& s, Stream st) const {
  const int rows = op.all_rows ? n : 1;
  const auto mode = DeviceSampler::Mode(sample_mode - 1);
  const float* logits = s.scratch.logits.as<float>();
  // MIMO_SAMPLE_LANES=0 issues the rows one after another (an A/B switch for mimo-bench).
  static const bool lanes_on = [] {
    const char* env = std::getenv("MIMO_SAMPLE_LANES");
    return env == nullptr || std::string(env) != "0";
  }();
  if (rows == 1 || !lanes_on) {
    for (int i = 0; i < rows; ++i) {
      s.samplers[i]->issue(logits + std::size_t(i) * config_.vocab_size, mode, st);
    }
    return;
  }
  // The rows are independent: their chains run side by side, forked from and joined back into
  // the step's stream (graph edges when captured), instead of rows x kernels in a row.
  const auto main = static_cast<cudaStream_t>(st);
  GpuState::SampleLanes& lanes = s.sample_lanes(rows);
  check(cudaEventRecord(lanes.fork, main), "sampling fork");
  for (int i = 0; i < rows; ++i) {
    check(cudaStreamWaitEvent(lanes.streams[i], lanes.fork, 0), "sampling fork");
    s.samplers[i]->issue(logits + std::size_t(i) * config_.vocab_size, mode, lanes.streams[i]);
    check(cudaEventRecord(lanes.joins[i], lanes.streams[i]), "sampling join");
    check(cudaStreamWaitEvent(main, lanes.joins[i], 0), "sampling join");
  }
}

}  // namespace mimo::cuda
