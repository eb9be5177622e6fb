// The imperative DFlash drafter that lib/spec ran before its passes became drafter programs
// (program/drafter_program.hpp), kept verbatim as the reference the programs must reproduce bit
// for bit (drafter_program_identity_test.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/rope.hpp"
#include "cpu/thread_pool.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"
#include "spec/drafter_weights.hpp"

namespace mimo::spec::testing {

class ImperativeDrafter {
 public:
  // All references must outlive the drafter. block_size >= 2.
  ImperativeDrafter(const model::DrafterConfig& config, const spec::DrafterWeights& weights,
                    const model::ModelConfig& target, const model::ModelWeights& target_weights,
                    int block_size, cpu::ThreadPool& pool);

  int block_size() const { return block_size_; }
  // Context rows (target features, [rows, K * target_hidden]) of positions first .. first+rows-1,
  // projected and appended to every layer's context cache. Positions must exceed every cached
  // one (kInvalidArgument otherwise).
  void add_context(std::int64_t first_position, const float* features, std::int64_t rows);
  // Forgets cached context positions >= length.
  void truncate(std::int64_t length);
  std::int64_t context_rows() const { return static_cast<std::int64_t>(positions_.size()); }

  // The drafter's final-normed hidden states of the block [anchor, MASK...] placed at
  // anchor_position: [block_size, hidden]. Context positions >= anchor_position are ignored.
  std::vector<float> block_hidden(std::int32_t anchor, std::int64_t anchor_position) const;
  // The target lm_head on rows 1 .. count of block_hidden: [count, vocab], count clamped to
  // [0, block_size - 1]. Row i is the drafter's distribution (before any sampler transform) of
  // the token at anchor_position + 1 + i.
  std::vector<float> logits(std::int32_t anchor, std::int64_t anchor_position, int count) const;
  // Argmax of each row of logits() (ties to the lowest id).
  std::vector<std::int32_t> propose(std::int32_t anchor, std::int64_t anchor_position,
                                    int count) const;

 private:
  std::vector<float> project_context(const float* features, std::int64_t rows) const;
  // [n, heads, head_dim]: per-head RMSNorm with `weight`, then RoPE at positions[i].
  void norm_and_rope(float* x, std::int64_t n, int heads, const std::vector<float>& weight,
                     const std::int64_t* positions) const;
  void attention(int layer, const float* q, const float* k_block, const float* v_block,
                 std::int64_t anchor_position, float* out) const;
  bool sliding(int layer) const;

  const model::DrafterConfig& config_;
  const spec::DrafterWeights& weights_;
  const model::ModelConfig& target_;
  const model::ModelWeights& target_weights_;
  int block_size_;
  cpu::ThreadPool& pool_;
  cpu::Rope rope_;
  // Context cache: positions (ascending) and per layer keys [n, kv, hd] / values [n, kv, vhd].
  std::vector<std::int64_t> positions_;
  std::vector<std::vector<float>> keys_, values_;
};

}  // namespace mimo::spec::testing
