// build_step_program: the model's forward written once, as data (see step_program.hpp).
#include "program/step_program.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mimo/error.hpp"

namespace mimo::program {
namespace {

int tiles_of(std::int64_t rows) {
  return static_cast<int>((rows + kTileRows - 1) / kTileRows);
}

}  // namespace

Op& append_op(std::vector<Op>& ops, OpKind kind, int layer, std::vector<Access> reads,
              std::vector<Access> writes, Tiling tiling) {
  Op o;
  o.kind = kind;
  o.layer = layer;
  o.reads = std::move(reads);
  o.writes = std::move(writes);
  o.tiling = std::move(tiling);
  ops.push_back(std::move(o));
  return ops.back();
}

namespace {

// Appends ops to a program, naming their buffers the way the math reads.
class Builder {
 public:
  Builder(const model::ModelConfig& config, StepProgram& program)
      : config_(config), program_(program) {}

  Op& op(OpKind kind, int layer, std::vector<Access> reads, std::vector<Access> writes,
         Tiling tiling) {
    return append_op(program_.ops, kind, layer, std::move(reads), std::move(writes),
                     std::move(tiling));
  }

  void embed() {
    op(OpKind::kEmbed, -1, {{Buffer::kTokens}}, {{Buffer::kResidual}}, {tokens(), 1, {}});
  }

  // x += delta (unless first), h = rmsnorm(x) * weight.
  void add_norm(int layer, Norm norm, bool add) {
    std::vector<Access> reads{{Buffer::kResidual}};
    if (add) reads.push_back({Buffer::kDelta});
    Op& o = op(OpKind::kAddNorm, layer, std::move(reads), {{Buffer::kResidual}, {Buffer::kNormed}},
               {tokens(), 1, {}});
    o.add = add;
    o.norm = norm;
  }

  void attention(int layer) {
    const model::AttentionSpec& a = config_.attention(layer);
    op(OpKind::kQkv, layer, {{Buffer::kNormed}},
       {{Buffer::kQuery}, {Buffer::kKey}, {Buffer::kValue}},
       projection_tiling({std::int64_t{a.num_heads} * a.head_dim,
                          std::int64_t{a.num_kv_heads} * a.head_dim,
                          std::int64_t{a.num_kv_heads} * a.v_head_dim}));
    // RoPE reads and rewrites only the rotary dims of each head of q and k; the whole of k
    // and v goes to the cache.
    std::vector<Access> reads{{Buffer::kPositions}, {Buffer::kKey}, {Buffer::kValue}};
    std::vector<Access> writes{{Buffer::kKvCache, layer}};
    for (int h = 0; h < a.num_heads; ++h) {
      const std::int64_t first = std::int64_t{h} * a.head_dim;
      reads.push_back({Buffer::kQuery, -1, first, first + a.rotary_dim});
      writes.push_back({Buffer::kQuery, -1, first, first + a.rotary_dim});
    }
    for (int h = 0; h < a.num_kv_heads; ++h) {
      const std::int64_t first = std::int64_t{h} * a.head_dim;
      writes.push_back({Buffer::kKey, -1, first, first + a.rotary_dim});
    }
    op(OpKind::kRopeStoreKv, layer, std::move(reads), std::move(writes), {tokens(), 1, {}});
    op(OpKind::kAttention, layer,
       {{Buffer::kPositions}, {Buffer::kQuery}, {Buffer::kKvCache, layer}}, {{Buffer::kHeads}},
       {a.num_kv_heads, a.num_heads / a.num_kv_heads, {a.head_dim, a.v_head_dim}});
    op(OpKind::kOutProj, layer, {{Buffer::kHeads}}, {{Buffer::kDelta}},
       projection_tiling({config_.hidden_size}));
  }

  void mlp(int layer) {
    if (config_.layers[layer].mlp == model::MlpKind::kDense) {
      op(OpKind::kDenseMlp, layer, {{Buffer::kNormed}}, {{Buffer::kDelta}},
         {tiles_of(config_.intermediate_size), kTileRows, {}});
      return;
    }
    op(OpKind::kRoute, layer, {{Buffer::kNormed}}, {{Buffer::kRoutes}},
       {tiles_of(config_.n_routed_experts), kTileRows, {}});
    op(OpKind::kExperts, layer, {{Buffer::kNormed}, {Buffer::kRoutes}}, {{Buffer::kDelta}},
       {tokens() * config_.num_experts_per_tok,
        static_cast<int>(config_.moe_intermediate_size),
        {}});
  }

  // Copies of `source` into every tap slot that asks for `layer`.
  void taps(int layer, Buffer source) {
    const std::vector<int>& taps = program_.shape.taps;
    for (std::size_t k = 0; k < taps.size(); ++k) {
      if (taps[k] != layer) continue;
      Op& o = op(OpKind::kTap, layer, {{source}}, {{Buffer::kTaps, static_cast<int>(k)}},
                 {tokens(), 1, {}});
      o.slot = static_cast<int>(k);
      o.source = source;
    }
  }

  void lm_head() {
    const bool all = program_.shape.all_logits;
    Op& o = op(OpKind::kLmHead, -1, {{Buffer::kNormed}}, {{Buffer::kLogits}},
               projection_tiling({config_.vocab_size}));
    o.all_rows = all;
  }

  void sample() {
    Op& o = op(OpKind::kSample, -1, {{Buffer::kLogits}}, {{Buffer::kSampled}},
               {program_.shape.all_logits ? tokens() : 1, 1, {}});
    o.all_rows = program_.shape.all_logits;
  }

 private:
  int tokens() const { return program_.shape.tokens; }

  const model::ModelConfig& config_;
  StepProgram& program_;
};

void check_shape(const model::ModelConfig& config, const StepShape& shape) {
  if (shape.tokens < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("step program: {} tokens, at least 1 expected", shape.tokens));
  }
  check_taps(config, shape.taps);
  if (!shape.logits && (shape.all_logits || shape.sample_mode != 0)) {
    throw Error(ErrorCode::kInvalidArgument,
                "step program: all_logits or sampling asked of a step without logits");
  }
}

}  // namespace

void check_taps(const model::ModelConfig& config, const std::vector<int>& taps) {
  for (int tap : taps) {
    if (tap < 0 || tap >= config.num_layers) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: hidden tap {} is not a layer index [0, {})", tap,
                              config.num_layers));
    }
  }
}

Tiling projection_tiling(std::vector<std::int64_t> widths) {
  std::int64_t total = 0;
  for (std::int64_t w : widths) total += w;
  return {tiles_of(total), kTileRows, std::move(widths)};
}

std::vector<TileSlice> tile_slices(const Op& op, int tile) {
  std::vector<TileSlice> slices;
  const std::int64_t lo = std::int64_t{tile} * op.tiling.rows, hi = lo + op.tiling.rows;
  std::int64_t offset = 0;
  for (std::size_t k = 0; k < op.tiling.widths.size(); ++k) {
    const std::int64_t width = op.tiling.widths[k];
    const std::int64_t begin = std::max(lo, offset), end = std::min(hi, offset + width);
    if (begin < end) slices.push_back({static_cast<int>(k), begin - offset, end - offset});
    offset += width;
  }
  return slices;
}

StepProgram build_step_program(const model::ModelConfig& config, const StepShape& shape) {
  check_shape(config, shape);
  StepProgram program;
  program.shape = shape;
  Builder b(config, program);
  b.embed();
  for (int l = 0; l < config.num_layers; ++l) {
    b.add_norm(l, Norm::kInput, l > 0);
    if (l > 0) b.taps(l - 1, Buffer::kResidual);  // x now holds layer l - 1's output
    b.attention(l);
    b.add_norm(l, Norm::kPostAttention, true);
    b.mlp(l);
  }
  b.add_norm(-1, Norm::kFinal, true);
  b.taps(config.num_layers - 1, Buffer::kNormed);  // transformers' last hidden state: normed
  if (shape.logits) b.lm_head();
  if (shape.sample_mode != 0) b.sample();
  return program;
}

StepProgram tensor_parallel(const StepProgram& program, int ranks) {
  if (ranks < 1 || program.ranks != 1) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("tensor_parallel: {} ranks of a {}-rank program", ranks, program.ranks));
  }
  StepProgram out;
  out.shape = program.shape;
  out.ranks = ranks;
  for (const Op& o : program.ops) {
    out.ops.push_back(o);
    if (ranks == 1) continue;
    const bool partial_delta =
        o.kind == OpKind::kOutProj || o.kind == OpKind::kExperts || o.kind == OpKind::kDenseMlp;
    if (partial_delta) {
      Op reduce;
      reduce.kind = OpKind::kAllReduce;
      reduce.layer = o.layer;
      reduce.reads = {{Buffer::kDelta}};
      reduce.writes = {{Buffer::kDelta}};
      out.ops.push_back(std::move(reduce));
    } else if (o.kind == OpKind::kLmHead) {
      Op gather;
      gather.kind = OpKind::kAllGather;
      gather.all_rows = o.all_rows;
      gather.reads = {{Buffer::kLogits}};
      gather.writes = {{Buffer::kLogits}};
      out.ops.push_back(std::move(gather));
    }
  }
  return out;
}

bool overlap(const Access& a, const Access& b) {
  return a.buffer == b.buffer && a.index == b.index && a.begin < b.end && b.begin < a.end;
}

const char* name(OpKind kind) {
  switch (kind) {
    case OpKind::kEmbed:
      return "embed";
    case OpKind::kAddNorm:
      return "add_norm";
    case OpKind::kQkv:
      return "qkv";
    case OpKind::kRopeStoreKv:
      return "rope_store_kv";
    case OpKind::kAttention:
      return "attention";
    case OpKind::kOutProj:
      return "out_proj";
    case OpKind::kRoute:
      return "route";
    case OpKind::kExperts:
      return "experts";
    case OpKind::kDenseMlp:
      return "dense_mlp";
    case OpKind::kLmHead:
      return "lm_head";
    case OpKind::kTap:
      return "tap";
    case OpKind::kAllReduce:
      return "all_reduce";
    case OpKind::kAllGather:
      return "all_gather";
    case OpKind::kSample:
      return "sample";
    case OpKind::kContextFc:
      return "context_fc";
    case OpKind::kContextNorm:
      return "context_norm";
    case OpKind::kContextKv:
      return "context_kv";
    case OpKind::kStoreContext:
      return "store_context";
    case OpKind::kBlockEmbed:
      return "block_embed";
    case OpKind::kQkNormRope:
      return "qk_norm_rope";
    case OpKind::kBlockAttention:
      return "block_attention";
    case OpKind::kDraftLogits:
      return "draft_logits";
    case OpKind::kArgmax:
      return "argmax";
  }
  return "?";
}

const char* name(Buffer buffer) {
  switch (buffer) {
    case Buffer::kTokens:
      return "tokens";
    case Buffer::kPositions:
      return "positions";
    case Buffer::kResidual:
      return "x";
    case Buffer::kNormed:
      return "h";
    case Buffer::kDelta:
      return "delta";
    case Buffer::kQuery:
      return "q";
    case Buffer::kKey:
      return "k";
    case Buffer::kValue:
      return "v";
    case Buffer::kHeads:
      return "heads";
    case Buffer::kRoutes:
      return "routes";
    case Buffer::kLogits:
      return "logits";
    case Buffer::kTaps:
      return "taps";
    case Buffer::kKvCache:
      return "kv";
    case Buffer::kSampled:
      return "sampled";
    case Buffer::kFeatures:
      return "features";
    case Buffer::kContext:
      return "context";
    case Buffer::kDrafts:
      return "drafts";
  }
  return "?";
}

std::string describe(std::span<const Op> ops) {
  const auto list = [](const std::vector<Access>& uses) {
    std::string s;
    for (const Access& a : uses) {
      s += ' ';
      s += name(a.buffer);
      if (a.index >= 0) s += fmt::format("[{}]", a.index);
    }
    return s;
  };
  std::string out;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& o = ops[i];
    out += fmt::format("{:4} {:>4} {:<14} reads{:<28} writes{}\n", i,
                       o.layer < 0 ? std::string("-") : fmt::format("L{}", o.layer), name(o.kind),
                       list(o.reads), list(o.writes));
  }
  return out;
}

}  // namespace mimo::program
