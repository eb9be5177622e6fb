// The CPU reference interpreter of DFlash drafter programs (program/drafter_program.hpp): each
// op runs with the lib/cpu kernels over the drafter's weights, the target's embedding and
// lm_head, the block's buffers and the drafter's context cache. Ops run in program order, or in
// any order the program's dependency graph allows (tests prove the bits agree).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cpu/context_cache.hpp"
#include "cpu/rope.hpp"
#include "cpu/thread_pool.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"
#include "program/dependencies.hpp"
#include "program/drafter_program.hpp"

namespace mimo::exec {

struct CpuDrafterLayer {
  const model::LinearWeight *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr;
  const model::ExpertWeights* mlp = nullptr;  // gate / up / down
  std::span<const float> input_norm, post_attention_norm, q_norm, k_norm;
  std::span<const float> sink;  // [num_heads], or empty
};

// What the interpreter reads; every pointer and span must outlive the runner.
struct CpuDrafterModel {
  model::DrafterConfig config;
  const model::LinearWeight* fc = nullptr;  // [hidden, K * target hidden]
  std::span<const float> context_norm, final_norm;
  std::span<const float> mask_embedding;  // input of the mask slots [hidden], or empty: the
                                          // target's embedding of mask_token_id
  std::vector<CpuDrafterLayer> layers;
  const model::LinearWeight* embed = nullptr;    // the target's
  const model::LinearWeight* lm_head = nullptr;  // the target's: vocab rows
};

// The buffers of a drafter program (program::Buffer), grown to its shape. After a run, h holds
// the block's final-normed hidden states [block, hidden], logits the draft rows [draft_rows,
// vocab], drafts their argmax.
struct CpuDrafterBuffers {
  std::vector<float> context, x, h, delta, q, k, v, heads, logits;
  std::vector<std::int32_t> tokens, drafts;
  std::vector<std::int64_t> positions;  // the block's
};

// A drafter program's inputs.
struct DrafterIo {
  const float* features = nullptr;  // context pass: [context, K * target hidden]
  std::int64_t first_position = 0;  // of the first context row
  std::int32_t anchor = 0;          // block pass: the block's first token
  std::int64_t anchor_position = 0;
};

class CpuDrafterRunner {
 public:
  // model and pool must outlive the runner.
  CpuDrafterRunner(const CpuDrafterModel& model, cpu::ThreadPool& pool);

  // Runs `program`: its context rows are appended to `cache` (kInvalidArgument when they are
  // not after every cached position; dropped again if the run throws), the block attends to
  // the cached rows below the anchor. `tasks`, when given, replaces program order: the
  // program's ops or tiles (program::op_tasks, tile_tasks) in an order their dependency graph
  // allows, each op's work done exactly once.
  void run(const program::DrafterProgram& program, cpu::ContextCache& cache, CpuDrafterBuffers& b,
           const DrafterIo& io, const std::vector<program::Task>* tasks = nullptr) const;

 private:
  void prepare(const program::DrafterShape& shape, CpuDrafterBuffers& b, const DrafterIo& io) const;
  // One op, or one tile of a projection or of the attention (tile >= 0).
  void run_op(const program::Op& op, const program::DrafterShape& shape, cpu::ContextCache& cache,
              CpuDrafterBuffers& b, const DrafterIo& io, int tile) const;
  void store_context(int layer, int rows, cpu::ContextCache& cache, CpuDrafterBuffers& b) const;
  void embed_block(int block, CpuDrafterBuffers& b) const;
  void add_norm(const program::Op& op, int block, CpuDrafterBuffers& b) const;
  // x [n, heads, head_dim] in place: per-head RMSNorm with `weight`, then RoPE at positions.
  void norm_and_rope(float* x, int n, int heads, std::span<const float> weight,
                     const std::int64_t* positions) const;
  // All heads, or (tile >= 0) the query heads of kv head `tile`.
  void attention(int layer, int block, const cpu::ContextCache& cache, CpuDrafterBuffers& b,
                 std::int64_t anchor_position, int tile) const;
  void argmax(int rows, CpuDrafterBuffers& b) const;
  void projection_tile(const program::Op& op, const program::DrafterShape& shape, int tile,
                       CpuDrafterBuffers& b, const DrafterIo& io) const;

  const CpuDrafterModel& model_;
  cpu::ThreadPool& pool_;
  cpu::Rope rope_;
};

}  // namespace mimo::exec
