// CpuRunner: each op of a step program as the lib/cpu kernels compute it (see cpu_runner.hpp).
#include "exec/cpu_runner.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cpu/attention.hpp"
#include "cpu/embedding.hpp"
#include "cpu/linear.hpp"
#include "cpu/mlp.hpp"
#include "cpu/rmsnorm.hpp"
#include "exec/activation_checks.hpp"
#include "exec/projection_tile.hpp"
#include "mimo/error.hpp"

namespace mimo::exec {

using program::Op;
using program::OpKind;

CpuRunner::CpuRunner(const CpuModel& model, cpu::ThreadPool& pool, bool check_activations)
    : model_(model), pool_(pool), check_activations_(check_activations) {
  for (int l = 0; l < model.config.num_layers; ++l) {
    const model::AttentionSpec& a = model.config.attention(l);
    q_width_ = std::max<std::size_t>(q_width_, std::size_t(a.num_heads) * a.head_dim);
    k_width_ = std::max<std::size_t>(k_width_, std::size_t(a.num_kv_heads) * a.head_dim);
    v_width_ = std::max<std::size_t>(v_width_, std::size_t(a.num_kv_heads) * a.v_head_dim);
    heads_width_ = std::max<std::size_t>(heads_width_, std::size_t(a.num_heads) * a.v_head_dim);
  }
}

void CpuRunner::prepare(CpuBuffers& b, const ChunkIo& io, std::int64_t first_pos) const {
  const std::size_t n = io.tokens.size();
  const std::size_t hidden = model_.config.hidden_size;
  b.x.resize(n * hidden);
  b.h.resize(n * hidden);
  b.delta.resize(n * hidden);
  b.q.resize(n * q_width_);
  b.k.resize(n * k_width_);
  b.v.resize(n * v_width_);
  b.heads.resize(n * heads_width_);
  b.routes.resize(n);
  b.positions.resize(n);
  for (std::size_t i = 0; i < n; ++i) b.positions[i] = static_cast<std::int32_t>(first_pos + i);
}

void CpuRunner::run(const program::StepProgram& program, cpu::KvCache& cache, CpuBuffers& b,
                    const ChunkIo& io, const std::vector<program::Task>* tasks) const {
  const int n = static_cast<int>(io.tokens.size());
  prepare(b, io, cache.length());
  cache.reserve_step(n);
  const std::size_t count = tasks ? tasks->size() : program.ops.size();
  for (std::size_t i = 0; i < count; ++i) {
    const int index = tasks ? (*tasks)[i].op : static_cast<int>(i);
    if (index < 0 || static_cast<std::size_t>(index) >= program.ops.size()) {
      throw Error(ErrorCode::kInternal, "CpuRunner: a task names no op of the program");
    }
    const Op& op = program.ops[index];
    if (program::starts_layer(op) && io.cancel && io.cancel->load(std::memory_order_relaxed)) {
      throw Error(ErrorCode::kCancelled, "forward: cancelled");
    }
    const int tile = tasks ? (*tasks)[i].tile : -1;
    run_op(op, cache, b, io, tile);
    if (check_activations_ && tile < 0) check_op_output(op, model_, b, io);
  }
  cache.commit(n);
}

void CpuRunner::run_op(const Op& op, cpu::KvCache& cache, CpuBuffers& b, const ChunkIo& io,
                       int tile) const {
  if (tile >= 0 && op.kind == OpKind::kAttention) {
    attention(op.layer, cache, b, static_cast<int>(io.tokens.size()), tile);
    return;
  }
  if (tile >= 0) {
    projection_tile(op, tile, b, io);
    return;
  }
  const int n = static_cast<int>(io.tokens.size());
  const std::int64_t hidden = model_.config.hidden_size;
  switch (op.kind) {
    case OpKind::kEmbed:
      cpu::embed(*model_.embed, io.tokens, b.x.data());
      return;
    case OpKind::kAddNorm:
      add_norm(op, b, n);
      return;
    case OpKind::kQkv:
      qkv(op.layer, b, n);
      return;
    case OpKind::kRopeStoreKv:
      rope_store_kv(op.layer, cache, b, n);
      return;
    case OpKind::kAttention:
      attention(op.layer, cache, b, n);
      return;
    case OpKind::kOutProj:
      cpu::linear(pool_, *model_.layers[op.layer].o, b.heads.data(), n, b.delta.data());
      return;
    case OpKind::kRoute:
      route(op.layer, b, n);
      return;
    case OpKind::kExperts:
      experts(op.layer, b, n);
      return;
    case OpKind::kDenseMlp:
      cpu::gated_mlp(pool_, *model_.layers[op.layer].dense, b.h.data(), n, b.delta.data());
      return;
    case OpKind::kLmHead:
      if (op.all_rows) {
        cpu::linear(pool_, *model_.lm_head, b.h.data(), n, io.logits);
      } else {
        cpu::linear(pool_, *model_.lm_head, b.h.data() + (n - 1) * hidden, 1, io.logits);
      }
      return;
    case OpKind::kTap:
      tap(op, b, io);
      return;
    case OpKind::kAllReduce:
    case OpKind::kAllGather:
    case OpKind::kSample:
    case OpKind::kContextFc:
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
  throw Error(ErrorCode::kInternal,
              fmt::format("CpuRunner: op '{}' needs another runner", program::name(op.kind)));
}

void CpuRunner::add_norm(const Op& op, CpuBuffers& b, int n) const {
  if (op.add) {
    for (std::size_t i = 0; i < b.x.size(); ++i) b.x[i] += b.delta[i];
  }
  const std::vector<float>& weight = op.norm == program::Norm::kFinal ? model_.final_norm
                                     : op.norm == program::Norm::kInput
                                         ? model_.layers[op.layer].input_norm
                                         : model_.layers[op.layer].post_attention_norm;
  cpu::rmsnorm(b.x.data(), weight.data(), n, model_.config.hidden_size, model_.config.rms_norm_eps,
               b.h.data());
}

void CpuRunner::qkv(int layer, CpuBuffers& b, int n) const {
  const CpuLayer& w = model_.layers[layer];
  // One pool dispatch for the three projections (the same products as three linear calls).
  const cpu::LinearJob jobs[] = {{w.q, b.h.data(), n, b.q.data()},
                                 {w.k, b.h.data(), n, b.k.data()},
                                 {w.v, b.h.data(), n, b.v.data()}};
  cpu::linear_batch(pool_, jobs);
}

void CpuRunner::rope_store_kv(int layer, cpu::KvCache& cache, CpuBuffers& b, int n) const {
  const model::AttentionSpec& a = model_.config.attention(layer);
  const bool sliding = model_.config.layers[layer].attention == model::AttentionKind::kSliding;
  const cpu::Rope& rope = sliding ? model_.sliding_rope : model_.full_rope;
  const std::int64_t q_size = std::int64_t{a.num_heads} * a.head_dim;
  const std::int64_t k_size = std::int64_t{a.num_kv_heads} * a.head_dim;
  const std::int64_t v_size = std::int64_t{a.num_kv_heads} * a.v_head_dim;
  const float value_scale = static_cast<float>(model_.config.attention_value_scale);
  for (int i = 0; i < n; ++i) {
    const std::int64_t pos = b.positions[i];
    rope.apply(b.q.data() + i * q_size, a.num_heads, a.head_dim, pos);
    rope.apply(b.k.data() + i * k_size, a.num_kv_heads, a.head_dim, pos);
    std::copy_n(b.k.data() + i * k_size, k_size, cache.key(layer, pos));
    float* cached_v = cache.value(layer, pos);
    for (std::int64_t j = 0; j < v_size; ++j) cached_v[j] = b.v[i * v_size + j] * value_scale;
  }
}

void CpuRunner::attention(int layer, cpu::KvCache& cache, CpuBuffers& b, int n, int tile) const {
  const model::AttentionSpec& a = model_.config.attention(layer);
  const bool sliding = model_.config.layers[layer].attention == model::AttentionKind::kSliding;
  cpu::AttentionParams params;
  params.num_heads = a.num_heads;
  params.window = sliding ? model_.config.sliding_window : 0;
  const std::vector<float>& sink = model_.layers[layer].sink;
  params.sinks = sink.empty() ? nullptr : sink.data();
  if (tile < 0) {
    cpu::attention(pool_, cache.view(layer), params, b.q.data(), n, b.positions[0], b.heads.data());
    return;
  }
  const int group = a.num_heads / a.num_kv_heads;  // the query heads of kv head `tile`
  cpu::attention_heads(pool_, cache.view(layer), params, b.q.data(), n, b.positions[0],
                       b.heads.data(), tile * group, (tile + 1) * group);
}

void CpuRunner::route(int layer, CpuBuffers& b, int n) const {
  const CpuLayer& w = model_.layers[layer];
  const int n_experts = model_.router.n_experts;
  std::vector<float> logits(std::int64_t{n} * n_experts);
  cpu::linear(pool_, *w.router, b.h.data(), n, logits.data());
  const float* bias = w.router_bias.empty() ? nullptr : w.router_bias.data();
  for (int i = 0; i < n; ++i) {
    b.routes[i] = cpu::route(logits.data() + i * n_experts, bias, model_.router);
  }
}

void CpuRunner::experts(int layer, CpuBuffers& b, int n) const {
  const CpuLayer& w = model_.layers[layer];
  const std::int64_t hidden = model_.config.hidden_size;
  const int end = w.first_expert + static_cast<int>(w.experts.size());
  if (w.first_expert == 0 && end == model_.router.n_experts) {
    cpu::moe(pool_, w.experts, b.routes, b.h.data(), n, hidden, b.delta.data());
    return;
  }
  std::vector<cpu::Route> local(n);  // this rank's share of each route, local expert ids
  for (int i = 0; i < n; ++i) {
    const cpu::Route& r = b.routes[i];
    for (std::size_t k = 0; k < r.experts.size(); ++k) {
      if (r.experts[k] < w.first_expert || r.experts[k] >= end) continue;
      local[i].experts.push_back(r.experts[k] - w.first_expert);
      local[i].weights.push_back(r.weights[k]);
    }
  }
  cpu::moe(pool_, w.experts, local, b.h.data(), n, hidden, b.delta.data());
}

void CpuRunner::tap(const Op& op, const CpuBuffers& b, const ChunkIo& io) const {
  const std::int64_t hidden = model_.config.hidden_size;
  const std::vector<float>& from = op.source == program::Buffer::kNormed ? b.h : b.x;
  const std::int64_t n = static_cast<std::int64_t>(io.tokens.size());
  for (std::int64_t i = 0; i < n; ++i) {
    std::copy_n(from.data() + i * hidden, hidden, io.taps + (i * io.n_taps + op.slot) * hidden);
  }
}

void CpuRunner::projection_tile(const Op& op, int tile, CpuBuffers& b, const ChunkIo& io) const {
  const int n = static_cast<int>(io.tokens.size());
  const std::int64_t hidden = model_.config.hidden_size;
  std::vector<ProjectionOutput> outputs;
  const float* x = b.h.data();
  int rows = n;
  switch (op.kind) {
    case OpKind::kQkv: {
      const CpuLayer& w = model_.layers[op.layer];
      outputs = {{w.q, b.q.data()}, {w.k, b.k.data()}, {w.v, b.v.data()}};
      break;
    }
    case OpKind::kOutProj:
      outputs = {{model_.layers[op.layer].o, b.delta.data()}};
      x = b.heads.data();
      break;
    case OpKind::kLmHead:
      outputs = {{model_.lm_head, io.logits}};
      if (!op.all_rows) {
        x = b.h.data() + (n - 1) * hidden;
        rows = 1;
      }
      break;
    default:
      throw Error(ErrorCode::kInternal,
                  fmt::format("CpuRunner: op '{}' has no tiles", program::name(op.kind)));
  }
  exec::projection_tile(pool_, op, tile, outputs, x, rows);
}

}  // namespace mimo::exec
