// The DFlash drafter on the CPU (research/dflash.md section 1, transformers'
// MuseGlimmerAssistantModel): target features -> fc -> RMSNorm become extra keys / values of
// every drafter layer (through that layer's k_proj / v_proj, k_norm, RoPE at their own
// positions); the block [anchor, MASK x (B-1)] at positions anchor .. anchor+B-1 runs through
// the layers in one non-causal pass; the target's lm_head on rows 1..B-1 gives the drafts. Both
// passes are drafter programs (program/drafter_program.hpp) run by exec::CpuDrafterRunner.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/context_cache.hpp"
#include "cpu/thread_pool.hpp"
#include "exec/cpu_drafter_runner.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"
#include "spec/drafter_weights.hpp"

namespace mimo::spec {

// What the CPU interpreter reads of a drafter and its target; `weights` and `target_weights`
// must outlive the result.
exec::CpuDrafterModel bind_cpu_drafter(const model::DrafterConfig& config,
                                       const DrafterWeights& weights,
                                       const model::ModelWeights& target_weights);

class DFlashDrafter {
 public:
  // All references must outlive the drafter. block_size >= 2.
  DFlashDrafter(const model::DrafterConfig& config, const DrafterWeights& weights,
                const model::ModelConfig& target, const model::ModelWeights& target_weights,
                int block_size, cpu::ThreadPool& pool);

  int block_size() const { return block_size_; }
  // Context rows (target features, [rows, K * target_hidden]) of positions first .. first+rows-1,
  // projected and appended to every layer's context cache. Positions must exceed every cached
  // one (kInvalidArgument otherwise).
  void add_context(std::int64_t first_position, const float* features, std::int64_t rows);
  // Forgets cached context positions >= length.
  void truncate(std::int64_t length) { cache_.truncate(length); }
  std::int64_t context_rows() const { return cache_.rows(); }

  // The drafter's final-normed hidden states of the block [anchor, MASK...] placed at
  // anchor_position: [block_size, hidden]. Context positions >= anchor_position are ignored.
  std::vector<float> block_hidden(std::int32_t anchor, std::int64_t anchor_position);
  // The target lm_head on rows 1 .. count of block_hidden: [count, vocab], count clamped to
  // [0, block_size - 1]. Row i is the drafter's distribution (before any sampler transform) of
  // the token at anchor_position + 1 + i.
  std::vector<float> logits(std::int32_t anchor, std::int64_t anchor_position, int count);
  // Argmax of each row of logits() (ties to the lowest id).
  std::vector<std::int32_t> propose(std::int32_t anchor, std::int64_t anchor_position, int count);

 private:
  // The block pass of `draft_rows` lm_head rows (and their argmax) into buffers_.
  void run_block(std::int32_t anchor, std::int64_t anchor_position, int draft_rows, bool argmax);

  const model::DrafterConfig& config_;
  std::int64_t vocab_size_;
  int block_size_;
  exec::CpuDrafterModel model_;
  exec::CpuDrafterRunner runner_;
  cpu::ContextCache cache_;
  exec::CpuDrafterBuffers buffers_;
};

}  // namespace mimo::spec
