// The DFlash speculator (see dflash_speculator.hpp).
#include "spec/dflash_speculator.hpp"

#include <fmt/format.h>

#include "mimo/error.hpp"
#include "model/drafter_config.hpp"

namespace mimo::spec {

DFlashSpeculator::DFlashSpeculator(std::shared_ptr<const void> keep_alive,
                                   const model::ModelConfig& target,
                                   const model::ModelWeights& target_weights,
                                   const std::string& drafter_dir, int block_size,
                                   int max_step_tokens, int num_threads, bool sample_drafts)
    : keep_alive_(std::move(keep_alive)),
      config_(model::load_drafter_config(drafter_dir)),
      sample_drafts_(sample_drafts) {
  model::validate_drafter_against_target(config_, target);
  const int b = block_size > 0 ? block_size : config_.block_size;
  if (b < 2 || b > max_step_tokens) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("DFlash block size {} must be in [2, max_step_tokens = {}] (raise "
                            "ModelOptions.max_step_tokens or choose a smaller block)",
                            b, max_step_tokens));
  }
  checkpoint_ = io::Checkpoint::open(drafter_dir);
  weights_ = bind_drafter_weights(config_, target.hidden_size, checkpoint_);
  weights_.mask_embedding = load_mask_embedding(drafter_dir, checkpoint_, config_.hidden_size);
  pool_ = std::make_unique<cpu::ThreadPool>(num_threads);
  drafter_ = std::make_unique<DFlashDrafter>(config_, weights_, target, target_weights, b, *pool_);
}

void DFlashSpeculator::observe(std::int64_t first_position, const float* features,
                               std::int64_t rows) {
  drafter_->truncate(first_position);  // a re-run position replaces what was cached for it
  drafter_->add_context(first_position, features, rows);
}

std::vector<std::int32_t> DFlashSpeculator::propose(const std::vector<std::int32_t>& context,
                                                    int max_draft) {
  if (context.empty()) return {};
  const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
  return drafter_->propose(context.back(), anchor_position, max_draft);
}

int DFlashSpeculator::draft_logits(const std::vector<std::int32_t>& context, int max_draft,
                                   std::int32_t vocab_size, std::vector<float>& logits) {
  if (!sample_drafts_ || context.empty()) return 0;
  const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
  logits = drafter_->logits(context.back(), anchor_position, max_draft);
  // The drafter scores with the target's lm_head, so its rows are vocab_size wide.
  return static_cast<int>(logits.size() / static_cast<std::size_t>(vocab_size));
}

}  // namespace mimo::spec
