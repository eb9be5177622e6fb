// The DFlash speculator (see dflash_speculator.hpp).
#include "spec/dflash_speculator.hpp"

#include <fmt/format.h>

#include <algorithm>

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
  row_floats_ = static_cast<std::int64_t>(config_.target_layer_ids.size()) * target.hidden_size;
}

void DFlashSpeculator::observe(std::int64_t first_position, const float* features,
                               std::int64_t rows) {
  if (rows <= 0) return;
  if (features == nullptr) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("DFlash speculator: {} observed rows at position {} without features "
                            "(the target must return the feature layers' outputs)",
                            rows, first_position));
  }
  const auto buffered = static_cast<std::int64_t>(pending_.size()) / row_floats_;
  if (buffered > 0 && first_position != pending_first_ + buffered) {
    truncate(first_position);  // a re-run position replaces what was kept for it
    if (!pending_.empty()) flush();
  }
  if (pending_.empty()) {
    drafter_->truncate(first_position);
    pending_first_ = first_position;
  }
  pending_.insert(pending_.end(), features, features + rows * row_floats_);
  if (static_cast<std::int64_t>(pending_.size()) / row_floats_ >= kObserveBatch) flush();
}

void DFlashSpeculator::truncate(std::int64_t length) {
  if (pending_.empty()) {
    drafter_->truncate(length);
    return;
  }
  // The drafter holds the positions before pending_first_, the buffer those after.
  const std::int64_t keep = std::clamp<std::int64_t>(
      length - pending_first_, 0, static_cast<std::int64_t>(pending_.size()) / row_floats_);
  pending_.resize(keep * row_floats_);
  drafter_->truncate(std::min(length, pending_first_));
}

void DFlashSpeculator::flush() {
  if (pending_.empty()) return;
  const auto rows = static_cast<std::int64_t>(pending_.size()) / row_floats_;
  drafter_->truncate(pending_first_);
  drafter_->add_context(pending_first_, pending_.data(), rows);
  pending_.clear();
}

std::vector<std::int32_t> DFlashSpeculator::propose(const std::vector<std::int32_t>& context,
                                                    int max_draft) {
  if (context.empty()) return {};
  flush();
  const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
  return drafter_->propose(context.back(), anchor_position, max_draft);
}

int DFlashSpeculator::draft_logits(const std::vector<std::int32_t>& context, int max_draft,
                                   std::int32_t vocab_size, std::vector<float>& logits) {
  if (!sample_drafts_ || context.empty()) return 0;
  flush();
  const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
  logits = drafter_->logits(context.back(), anchor_position, max_draft);
  // The drafter scores with the target's lm_head, so its rows are vocab_size wide.
  return static_cast<int>(logits.size() / static_cast<std::size_t>(vocab_size));
}

}  // namespace mimo::spec
