// check_op_output: each op's output buffer scanned token by token (see activation_checks.hpp).
#include "exec/activation_checks.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "mimo/error.hpp"

namespace mimo::exec {

namespace {

using program::Op;
using program::OpKind;

std::string op_label(const Op& op) {
  if (op.layer >= 0) return fmt::format("layer {} ({})", op.layer, program::name(op.kind));
  if (op.kind == OpKind::kAddNorm) return "the final norm (add_norm)";
  return fmt::format("the {}", program::name(op.kind));
}

// Throws at the first non-finite value of `rows` rows of `width` floats; row r is the token at
// context position positions[r + first_row].
void check_rows(const float* data, std::int64_t rows, std::int64_t width, const Op& op,
                const CpuBuffers& b, std::int64_t first_row) {
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < width; ++j) {
      const float value = data[r * width + j];
      if (std::isfinite(value)) continue;
      throw Error(
          ErrorCode::kNonFinite,
          fmt::format("{} produced {} at context position {} (ModelOptions::"
                      "check_activations)",
                      op_label(op), std::isnan(value) ? "NaN" : (value > 0 ? "+inf" : "-inf"),
                      b.positions[first_row + r]));
    }
  }
}

}  // namespace

void check_op_output(const Op& op, const CpuModel& model, const CpuBuffers& b, const ChunkIo& io) {
  const std::int64_t n = static_cast<std::int64_t>(io.tokens.size());
  const std::int64_t hidden = model.config.hidden_size;
  auto attention = [&]() -> const model::AttentionSpec& {
    return model.config.attention(op.layer);
  };
  switch (op.kind) {
    case OpKind::kEmbed:
      check_rows(b.x.data(), n, hidden, op, b, 0);
      return;
    case OpKind::kAddNorm:
      check_rows(b.x.data(), n, hidden, op, b, 0);
      check_rows(b.h.data(), n, hidden, op, b, 0);
      return;
    case OpKind::kQkv:
    case OpKind::kRopeStoreKv: {
      const model::AttentionSpec& a = attention();
      check_rows(b.q.data(), n, std::int64_t{a.num_heads} * a.head_dim, op, b, 0);
      check_rows(b.k.data(), n, std::int64_t{a.num_kv_heads} * a.head_dim, op, b, 0);
      check_rows(b.v.data(), n, std::int64_t{a.num_kv_heads} * a.v_head_dim, op, b, 0);
      return;
    }
    case OpKind::kAttention: {
      const model::AttentionSpec& a = attention();
      check_rows(b.heads.data(), n, std::int64_t{a.num_heads} * a.v_head_dim, op, b, 0);
      return;
    }
    case OpKind::kOutProj:
    case OpKind::kExperts:
    case OpKind::kDenseMlp:
      check_rows(b.delta.data(), n, hidden, op, b, 0);
      return;
    case OpKind::kRoute:
      for (std::int64_t i = 0; i < n; ++i) {
        const std::vector<float>& weights = b.routes[i].weights;
        check_rows(weights.data(), 1, static_cast<std::int64_t>(weights.size()), op, b, i);
      }
      return;
    case OpKind::kLmHead:
      check_rows(io.logits, op.all_rows ? n : 1, model.lm_head->rows, op, b,
                 op.all_rows ? 0 : n - 1);
      return;
    case OpKind::kTap:
    case OpKind::kAllReduce:
    case OpKind::kAllGather:
    case OpKind::kSample:
    case OpKind::kContextFc:  // drafter ops: CpuDrafterRunner's, never checked here
    case OpKind::kContextNorm:
    case OpKind::kContextKv:
    case OpKind::kStoreContext:
    case OpKind::kBlockEmbed:
    case OpKind::kQkNormRope:
    case OpKind::kBlockAttention:
    case OpKind::kDraftLogits:
    case OpKind::kArgmax:
      return;
  }
}

}  // namespace mimo::exec
