// CpuDrafterRunner: each op of a drafter program as the lib/cpu kernels compute it (see
// cpu_drafter_runner.hpp).
#include "exec/cpu_drafter_runner.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cpu/block_attention.hpp"
#include "cpu/embedding.hpp"
#include "cpu/linear.hpp"
#include "cpu/mlp.hpp"
#include "cpu/rmsnorm.hpp"
#include "exec/projection_tile.hpp"
#include "mimo/error.hpp"

namespace mimo::exec {

using program::Op;
using program::OpKind;

CpuDrafterRunner::CpuDrafterRunner(const CpuDrafterModel& model, cpu::ThreadPool& pool)
    : model_(model), pool_(pool), rope_(model.config.frequency_dim(), model.config.rope_theta) {}

void CpuDrafterRunner::prepare(const program::DrafterShape& shape, CpuDrafterBuffers& b,
                               const DrafterIo& io) const {
  const model::DrafterConfig& c = model_.config;
  if (shape.context > 0 && io.features == nullptr) {
    throw Error(ErrorCode::kInvalidArgument, "drafter program: context rows without features");
  }
  const std::size_t block = shape.block, hidden = c.hidden_size;
  const std::size_t rows = std::max(shape.context, shape.block);
  b.context.resize(std::size_t(shape.context) * hidden);
  b.x.resize(block * hidden);
  b.h.resize(block * hidden);
  b.delta.resize(block * hidden);
  b.q.resize(block * c.num_heads * c.head_dim);
  b.k.resize(rows * c.num_kv_heads * c.head_dim);
  b.v.resize(rows * c.num_kv_heads * c.v_head_dim);
  b.heads.resize(block * c.num_heads * c.v_head_dim);
  b.logits.resize(std::size_t(shape.draft_rows) * model_.lm_head->rows);
  b.drafts.resize(shape.argmax ? shape.draft_rows : 0);
  b.tokens.assign(block, c.mask_token_id);
  b.positions.resize(block);
  if (block > 0) b.tokens[0] = io.anchor;
  for (std::size_t i = 0; i < block; ++i) b.positions[i] = io.anchor_position + std::int64_t(i);
}

void CpuDrafterRunner::run(const program::DrafterProgram& program, cpu::ContextCache& cache,
                           CpuDrafterBuffers& b, const DrafterIo& io,
                           const std::vector<program::Task>* tasks) const {
  const program::DrafterShape& shape = program.shape;
  prepare(shape, b, io);
  if (shape.context > 0) cache.append(io.first_position, shape.context);
  try {
    const std::size_t count = tasks ? tasks->size() : program.ops.size();
    for (std::size_t i = 0; i < count; ++i) {
      const int index = tasks ? (*tasks)[i].op : static_cast<int>(i);
      if (index < 0 || static_cast<std::size_t>(index) >= program.ops.size()) {
        throw Error(ErrorCode::kInternal, "CpuDrafterRunner: a task names no op of the program");
      }
      run_op(program.ops[index], shape, cache, b, io, tasks ? (*tasks)[i].tile : -1);
    }
  } catch (...) {
    if (shape.context > 0) cache.truncate(io.first_position);
    throw;
  }
}

void CpuDrafterRunner::run_op(const Op& op, const program::DrafterShape& shape,
                              cpu::ContextCache& cache, CpuDrafterBuffers& b, const DrafterIo& io,
                              int tile) const {
  if (tile >= 0 && op.kind == OpKind::kBlockAttention) {
    attention(op.layer, shape.block, cache, b, io.anchor_position, tile);
    return;
  }
  if (tile >= 0) {
    projection_tile(op, shape, tile, b, io);
    return;
  }
  const model::DrafterConfig& c = model_.config;
  const int n = shape.block, ctx = shape.context;
  switch (op.kind) {
    case OpKind::kContextFc:
      cpu::linear(pool_, *model_.fc, io.features, ctx, b.context.data());
      return;
    case OpKind::kContextNorm:
      cpu::rmsnorm(b.context.data(), model_.context_norm.data(), ctx, c.hidden_size, c.rms_norm_eps,
                   b.context.data());
      return;
    case OpKind::kContextKv: {
      const CpuDrafterLayer& w = model_.layers[op.layer];
      const cpu::LinearJob jobs[] = {{w.k, b.context.data(), ctx, b.k.data()},
                                     {w.v, b.context.data(), ctx, b.v.data()}};
      cpu::linear_batch(pool_, jobs);  // one pool dispatch, the same products
      return;
    }
    case OpKind::kStoreContext:
      store_context(op.layer, ctx, cache, b);
      return;
    case OpKind::kBlockEmbed:
      embed_block(n, b);
      return;
    case OpKind::kAddNorm:
      add_norm(op, n, b);
      return;
    case OpKind::kQkv: {
      const CpuDrafterLayer& w = model_.layers[op.layer];
      const cpu::LinearJob jobs[] = {{w.q, b.h.data(), n, b.q.data()},
                                     {w.k, b.h.data(), n, b.k.data()},
                                     {w.v, b.h.data(), n, b.v.data()}};
      cpu::linear_batch(pool_, jobs);  // one pool dispatch, the same products
      return;
    }
    case OpKind::kQkNormRope: {
      const CpuDrafterLayer& w = model_.layers[op.layer];
      norm_and_rope(b.q.data(), n, c.num_heads, w.q_norm, b.positions.data());
      norm_and_rope(b.k.data(), n, c.num_kv_heads, w.k_norm, b.positions.data());
      return;
    }
    case OpKind::kBlockAttention:
      attention(op.layer, n, cache, b, io.anchor_position, -1);
      return;
    case OpKind::kOutProj:
      cpu::linear(pool_, *model_.layers[op.layer].o, b.heads.data(), n, b.delta.data());
      return;
    case OpKind::kDenseMlp:
      cpu::gated_mlp(pool_, *model_.layers[op.layer].mlp, b.h.data(), n, b.delta.data());
      return;
    case OpKind::kDraftLogits:  // rows 1 .. draft_rows: row 0 is the anchor's
      cpu::linear(pool_, *model_.lm_head, b.h.data() + c.hidden_size, shape.draft_rows,
                  b.logits.data());
      return;
    case OpKind::kArgmax:
      argmax(shape.draft_rows, b);
      return;
    case OpKind::kEmbed:
    case OpKind::kRopeStoreKv:
    case OpKind::kAttention:
    case OpKind::kRoute:
    case OpKind::kExperts:
    case OpKind::kLmHead:
    case OpKind::kTap:
    case OpKind::kAllReduce:
    case OpKind::kAllGather:
    case OpKind::kSample:
      break;
  }
  throw Error(ErrorCode::kInternal,
              fmt::format("CpuDrafterRunner: op '{}' is not a drafter op", program::name(op.kind)));
}

void CpuDrafterRunner::norm_and_rope(float* x, int n, int heads, std::span<const float> weight,
                                     const std::int64_t* positions) const {
  const int hd = model_.config.head_dim;
  cpu::rmsnorm(x, weight.data(), n * heads, hd, model_.config.rms_norm_eps, x);
  for (int i = 0; i < n; ++i) {
    rope_.apply(x + std::int64_t{i} * heads * hd, heads, hd, positions[i]);
  }
}

// The context rows are the cache's last `rows`: their keys normed and rotated at their
// positions, then keys and values stored.
void CpuDrafterRunner::store_context(int layer, int rows, cpu::ContextCache& cache,
                                     CpuDrafterBuffers& b) const {
  const model::DrafterConfig& c = model_.config;
  const std::int64_t first = cache.rows() - rows;
  norm_and_rope(b.k.data(), rows, c.num_kv_heads, model_.layers[layer].k_norm,
                cache.positions().data() + first);
  const std::int64_t kw = std::int64_t{c.num_kv_heads} * c.head_dim;
  const std::int64_t vw = std::int64_t{c.num_kv_heads} * c.v_head_dim;
  for (int i = 0; i < rows; ++i) {
    std::copy_n(b.k.data() + i * kw, kw, cache.key(layer, first + i));
    std::copy_n(b.v.data() + i * vw, vw, cache.value(layer, first + i));
  }
}

void CpuDrafterRunner::embed_block(int block, CpuDrafterBuffers& b) const {
  cpu::embed(*model_.embed, b.tokens, b.x.data());
  if (model_.mask_embedding.empty()) return;
  const std::size_t hidden = model_.config.hidden_size;
  for (int i = 1; i < block; ++i) {
    std::copy(model_.mask_embedding.begin(), model_.mask_embedding.end(),
              b.x.begin() + static_cast<std::ptrdiff_t>(i * hidden));
  }
}

void CpuDrafterRunner::add_norm(const Op& op, int block, CpuDrafterBuffers& b) const {
  if (op.add) {
    for (std::size_t i = 0; i < b.x.size(); ++i) b.x[i] += b.delta[i];
  }
  const std::span<const float> weight = op.norm == program::Norm::kFinal ? model_.final_norm
                                        : op.norm == program::Norm::kInput
                                            ? model_.layers[op.layer].input_norm
                                            : model_.layers[op.layer].post_attention_norm;
  cpu::rmsnorm(b.x.data(), weight.data(), block, model_.config.hidden_size,
               model_.config.rms_norm_eps, b.h.data());
}

void CpuDrafterRunner::attention(int layer, int block, const cpu::ContextCache& cache,
                                 CpuDrafterBuffers& b, std::int64_t anchor_position,
                                 int tile) const {
  const model::DrafterConfig& c = model_.config;
  const bool sliding = c.sliding_window && (c.layer_types.empty() ||
                                            c.layer_types[layer] == model::AttentionKind::kSliding);
  cpu::BlockAttentionParams params;
  params.num_heads = c.num_heads;
  params.num_kv_heads = c.num_kv_heads;
  params.head_dim = c.head_dim;
  params.v_head_dim = c.v_head_dim;
  if (sliding) params.window = *c.sliding_window;
  params.value_scale = static_cast<float>(c.attention_value_scale);
  const std::span<const float> sink = model_.layers[layer].sink;
  params.sinks = sink.empty() ? nullptr : sink.data();
  const int group = c.num_heads / c.num_kv_heads;  // the query heads of kv head `tile`
  const int first = tile < 0 ? 0 : tile * group, last = tile < 0 ? c.num_heads : first + group;
  cpu::block_attention(pool_, cache.view(layer), params, b.q.data(), b.k.data(), b.v.data(), block,
                       anchor_position, b.heads.data(), first, last);
}

void CpuDrafterRunner::argmax(int rows, CpuDrafterBuffers& b) const {
  const std::int64_t vocab = model_.lm_head->rows;
  for (int i = 0; i < rows; ++i) {
    const float* row = b.logits.data() + i * vocab;
    b.drafts[i] = static_cast<std::int32_t>(std::max_element(row, row + vocab) - row);
  }
}

void CpuDrafterRunner::projection_tile(const Op& op, const program::DrafterShape& shape, int tile,
                                       CpuDrafterBuffers& b, const DrafterIo& io) const {
  std::vector<ProjectionOutput> outputs;
  const float* x = b.h.data();
  int rows = shape.block;
  switch (op.kind) {
    case OpKind::kContextFc:
      outputs = {{model_.fc, b.context.data()}};
      x = io.features;
      rows = shape.context;
      break;
    case OpKind::kContextKv: {
      const CpuDrafterLayer& w = model_.layers[op.layer];
      outputs = {{w.k, b.k.data()}, {w.v, b.v.data()}};
      x = b.context.data();
      rows = shape.context;
      break;
    }
    case OpKind::kQkv: {
      const CpuDrafterLayer& w = model_.layers[op.layer];
      outputs = {{w.q, b.q.data()}, {w.k, b.k.data()}, {w.v, b.v.data()}};
      break;
    }
    case OpKind::kOutProj:
      outputs = {{model_.layers[op.layer].o, b.delta.data()}};
      x = b.heads.data();
      break;
    case OpKind::kDraftLogits:
      outputs = {{model_.lm_head, b.logits.data()}};
      x = b.h.data() + model_.config.hidden_size;
      rows = shape.draft_rows;
      break;
    default:
      throw Error(ErrorCode::kInternal,
                  fmt::format("CpuDrafterRunner: op '{}' has no tiles", program::name(op.kind)));
  }
  exec::projection_tile(pool_, op, tile, outputs, x, rows);
}

}  // namespace mimo::exec
