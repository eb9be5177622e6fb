// A DFlash drafter program (research/dflash.md section 1): the drafter's two passes as data, in
// the ops and buffers of step programs (step_program.hpp), so that the runners and the
// dependency graph (dependencies.hpp) treat them like the target's forward.
//   context pass: target features -> fc -> RMSNorm, then per layer k, v of those rows (k_proj,
//                 v_proj, per-head k_norm, RoPE at their own positions) into the context cache;
//   block pass:   the block [anchor, MASK x (B-1)] at positions anchor .. anchor+B-1 through the
//                 layers in one non-causal pass over the context cache and the block itself,
//                 then the target's lm_head on rows 1 .. and the argmax of each row.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.hpp"
#include "program/step_program.hpp"

namespace mimo::program {

// What a drafter program is planned for. A program may hold both passes: the context rows are
// appended to the cache first, and the block sees them.
struct DrafterShape {
  int context = 0;      // context rows appended to the cache; 0: no context pass
  int block = 0;        // the block's tokens (>= 2); 0: no block pass
  int draft_rows = 0;   // lm_head rows 1 .. draft_rows of the block (< block); 0: no lm_head,
                        // the block's final-normed hidden states are the output
  bool argmax = false;  // and the argmax of each of those rows
  bool operator==(const DrafterShape&) const = default;
};

struct DrafterProgram {
  DrafterShape shape;
  std::vector<Op> ops;
};

// The drafter of `config` scoring with a target lm_head of `vocab_size` rows:
//   context = rmsnorm(fc(features)); per layer: k, v = k_proj(context), v_proj(context);
//             cache[layer] <- rope(k_norm(k)), v
//   x = embed([anchor, MASK...]); per layer: h = rmsnorm(x += delta); q, k, v = qkv(h);
//             q, k = rope(q_norm(q)), rope(k_norm(k)); heads = attention(q, cache[layer] | k, v)
//             delta = o(heads); h = rmsnorm(x += delta); delta = mlp(h)
//   h = rmsnorm(x += delta); logits = lm_head(h[1 .. draft_rows]); drafts = argmax(logits)
// Throws mimo::Error(kInvalidArgument) for a shape it cannot run (nothing to do, a block of
// fewer than 2 tokens, draft rows outside [0, block - 1], argmax without draft rows).
DrafterProgram build_drafter_program(const model::DrafterConfig& config, std::int64_t vocab_size,
                                     const DrafterShape& shape);

}  // namespace mimo::program
