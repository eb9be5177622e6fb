// build_drafter_program: the DFlash drafter's passes written once, as data (see
// drafter_program.hpp).
#include "program/drafter_program.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "mimo/error.hpp"

namespace mimo::program {
namespace {

// Appends the drafter's ops, naming their buffers the way the math reads.
class DrafterBuilder {
 public:
  DrafterBuilder(const model::DrafterConfig& config, std::int64_t vocab_size,
                 DrafterProgram& program)
      : c_(config), vocab_size_(vocab_size), program_(program) {}

  Op& op(OpKind kind, int layer, std::vector<Access> reads, std::vector<Access> writes,
         Tiling tiling) {
    return append_op(program_.ops, kind, layer, std::move(reads), std::move(writes),
                     std::move(tiling));
  }

  // context = rmsnorm(W_fc features) * context norm.
  void project_context() {
    op(OpKind::kContextFc, -1, {{Buffer::kFeatures}}, {{Buffer::kContext}},
       projection_tiling({c_.hidden_size}));
    op(OpKind::kContextNorm, -1, {{Buffer::kContext}}, {{Buffer::kContext}}, rows(context()));
  }

  // cache[layer] <- rope(k_norm(W_k context)), W_v context.
  void store_context(int layer) {
    op(OpKind::kContextKv, layer, {{Buffer::kContext}}, {{Buffer::kKey}, {Buffer::kValue}},
       projection_tiling({kv_width(), v_width()}));
    op(OpKind::kStoreContext, layer, {{Buffer::kKey}, {Buffer::kValue}},
       {{Buffer::kKey}, {Buffer::kKvCache, layer}}, rows(context()));
  }

  void embed_block() {
    op(OpKind::kBlockEmbed, -1, {{Buffer::kTokens}}, {{Buffer::kResidual}}, rows(block()));
  }

  // x += delta (unless first), h = rmsnorm(x) * weight.
  void add_norm(int layer, Norm norm, bool add) {
    std::vector<Access> reads{{Buffer::kResidual}};
    if (add) reads.push_back({Buffer::kDelta});
    Op& o = op(OpKind::kAddNorm, layer, std::move(reads), {{Buffer::kResidual}, {Buffer::kNormed}},
               rows(block()));
    o.add = add;
    o.norm = norm;
  }

  void attention(int layer) {
    const std::int64_t q_width = std::int64_t{c_.num_heads} * c_.head_dim;
    op(OpKind::kQkv, layer, {{Buffer::kNormed}},
       {{Buffer::kQuery}, {Buffer::kKey}, {Buffer::kValue}},
       projection_tiling({q_width, kv_width(), v_width()}));
    op(OpKind::kQkNormRope, layer, {{Buffer::kPositions}, {Buffer::kQuery}, {Buffer::kKey}},
       {{Buffer::kQuery}, {Buffer::kKey}}, rows(block()));
    op(OpKind::kBlockAttention, layer,
       {{Buffer::kPositions},
        {Buffer::kQuery},
        {Buffer::kKey},
        {Buffer::kValue},
        {Buffer::kKvCache, layer}},
       {{Buffer::kHeads}},
       {c_.num_kv_heads, c_.num_heads / c_.num_kv_heads, {c_.head_dim, c_.v_head_dim}});
    op(OpKind::kOutProj, layer, {{Buffer::kHeads}}, {{Buffer::kDelta}},
       projection_tiling({c_.hidden_size}));
  }

  void mlp(int layer) {
    op(OpKind::kDenseMlp, layer, {{Buffer::kNormed}}, {{Buffer::kDelta}}, rows(block()));
  }

  void draft_logits() {
    op(OpKind::kDraftLogits, -1, {{Buffer::kNormed}}, {{Buffer::kLogits}},
       projection_tiling({vocab_size_}));
  }

  void argmax() {
    op(OpKind::kArgmax, -1, {{Buffer::kLogits}}, {{Buffer::kDrafts}},
       rows(program_.shape.draft_rows));
  }

 private:
  int context() const { return program_.shape.context; }
  int block() const { return program_.shape.block; }
  std::int64_t kv_width() const { return std::int64_t{c_.num_kv_heads} * c_.head_dim; }
  std::int64_t v_width() const { return std::int64_t{c_.num_kv_heads} * c_.v_head_dim; }
  // One tile per row: the per-token ops.
  static Tiling rows(int n) { return {n, 1, {}}; }

  const model::DrafterConfig& c_;
  std::int64_t vocab_size_;
  DrafterProgram& program_;
};

void check_shape(const DrafterShape& shape) {
  const auto fail = [&](const std::string& what) {
    throw Error(ErrorCode::kInvalidArgument, "drafter program: " + what);
  };
  if (shape.context < 0 || shape.block < 0 || (shape.context == 0 && shape.block == 0)) {
    fail(fmt::format("{} context rows and a block of {}: nothing to run", shape.context,
                     shape.block));
  }
  if (shape.block == 1) fail("a block of 1 token, at least 2 expected");
  if (shape.draft_rows < 0 || shape.draft_rows > std::max(0, shape.block - 1)) {
    fail(fmt::format("{} draft rows of a block of {}", shape.draft_rows, shape.block));
  }
  if (shape.argmax && shape.draft_rows == 0) fail("argmax asked without draft rows");
}

}  // namespace

DrafterProgram build_drafter_program(const model::DrafterConfig& config, std::int64_t vocab_size,
                                     const DrafterShape& shape) {
  check_shape(shape);
  DrafterProgram program;
  program.shape = shape;
  DrafterBuilder b(config, vocab_size, program);
  if (shape.context > 0) {
    b.project_context();
    for (int l = 0; l < config.num_layers; ++l) b.store_context(l);
  }
  if (shape.block == 0) return program;
  b.embed_block();
  for (int l = 0; l < config.num_layers; ++l) {
    b.add_norm(l, Norm::kInput, l > 0);
    b.attention(l);
    b.add_norm(l, Norm::kPostAttention, true);
    b.mlp(l);
  }
  b.add_norm(-1, Norm::kFinal, true);
  if (shape.draft_rows > 0) b.draft_logits();
  if (shape.argmax) b.argmax();
  return program;
}

}  // namespace mimo::program
