// The DFlash speculator: a drafter checkpoint loaded for one target model, wrapped in the public
// Speculator interface (its context cache is per conversation).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cpu/thread_pool.hpp"
#include "io/checkpoint.hpp"
#include "mimo/speculator.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"
#include "spec/dflash_drafter.hpp"
#include "spec/drafter_weights.hpp"

namespace mimo::spec {

class DFlashSpeculator final : public Speculator {
 public:
  // Loads and validates `drafter_dir` against the target (config, then weights).
  // block_size 0: the drafter's; it must be in [2, max_step_tokens]. `keep_alive` holds
  // whatever owns target / target_weights. num_threads <= 0: all hardware threads.
  DFlashSpeculator(std::shared_ptr<const void> keep_alive, const model::ModelConfig& target,
                   const model::ModelWeights& target_weights, const std::string& drafter_dir,
                   int block_size, int max_step_tokens, int num_threads, bool sample_drafts = true);

  std::string name() const override { return "dflash"; }
  int max_draft() const override { return drafter_->block_size() - 1; }
  std::vector<int> feature_layers() const override { return config_.target_layer_ids; }
  // Observed rows wait in a buffer until a draft needs them or kObserveBatch have gathered,
  // then enter the drafter's context in one batch: a step that drafts nothing (the session's
  // draft-length chooser, docs/speculative.md) then costs a share of a batched update instead
  // of a one-row one. The context is the same either way, bit for bit (the CPU kernels give
  // every row the same arithmetic in any batch).
  void observe(std::int64_t first_position, const float* features, std::int64_t rows) override;
  void truncate(std::int64_t length) override;
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                    int max_draft) override;
  // The drafter's lm_head rows for the block (0 rows when built with sample_drafts off).
  int draft_logits(const std::vector<std::int32_t>& context, int max_draft, std::int32_t vocab_size,
                   std::vector<float>& logits) override;

  // The drafter, with every observed row in its context.
  DFlashDrafter& drafter() {
    flush();
    return *drafter_;
  }
  const model::DrafterConfig& config() const { return config_; }
  bool sample_drafts() const { return sample_drafts_; }
  const DrafterWeights& weights() const { return weights_; }

 private:
  std::shared_ptr<const void> keep_alive_;
  model::DrafterConfig config_;
  io::Checkpoint checkpoint_;
  DrafterWeights weights_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  void flush();  // the buffered rows into the drafter's context

  static constexpr std::int64_t kObserveBatch = 8;
  std::unique_ptr<DFlashDrafter> drafter_;
  bool sample_drafts_;
  std::int64_t row_floats_;         // floats of one observed row
  std::int64_t pending_first_ = 0;  // position of the first buffered row
  std::vector<float> pending_;      // buffered rows, consecutive positions
};

}  // namespace mimo::spec
