// GpuDFlashSpeculator (see gpu_dflash_speculator.hpp).
#include "cuda/stream/gpu_dflash_speculator.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cuda/runtime/device_memory.hpp"
#include "cuda/runtime/device_query.hpp"
#include "mimo/error.hpp"

namespace mimo::cuda {

GpuDFlashSpeculator::GpuDFlashSpeculator(std::unique_ptr<spec::DFlashSpeculator> host,
                                         const model::ModelConfig& target, const DeviceModel& head,
                                         int device)
    : host_(std::move(host)), device_(device) {
  const DeviceGuard on(device_);
  drafter_ = std::make_unique<GpuDrafter>(host_->config(), host_->weights(), target, head,
                                          host_->drafter().block_size());
  try {
    draws_ = std::make_unique<DraftDraws>(target.vocab_size);
  } catch (...) {
    drafter_.reset();  // on its own device, not the caller's
    throw;
  }
}

GpuDFlashSpeculator::~GpuDFlashSpeculator() {
  const DeviceGuard on(device_, std::nothrow);  // streams and graphs go where they were made
  draws_.reset();
  drafter_.reset();
}

void GpuDFlashSpeculator::truncate(std::int64_t length) {
  const DeviceGuard on(device_);
  drafter_->truncate(length);
}

std::vector<float> GpuDFlashSpeculator::proposals_to_host(int rows) const {
  const DeviceGuard on(device_);
  return draws_->proposals_to_host(rows);
}

void GpuDFlashSpeculator::observe(std::int64_t first_position, const float* features,
                                  std::int64_t rows) {
  const DeviceGuard on(device_);
  drafter_->truncate(first_position);  // a re-run position replaces what was cached for it
  drafter_->add_context(first_position, features, rows);
}

void GpuDFlashSpeculator::observe_device(std::int64_t first_position, const exec::DeviceTaps& taps,
                                         std::int64_t rows) {
  if (rows > taps.rows) {
    throw Error(ErrorCode::kInternal,
                fmt::format("GPU DFlash: {} context rows asked of {} taps", rows, taps.rows));
  }
  const DeviceGuard on(device_);
  drafter_->truncate(first_position);
  drafter_->add_device_context(first_position, taps.data, rows, taps.ready, taps.released);
}

std::vector<std::int32_t> GpuDFlashSpeculator::propose(const std::vector<std::int32_t>& context,
                                                       int max_draft) {
  if (context.empty()) return {};
  const DeviceGuard on(device_);
  const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
  return drafter_->propose(context.back(), anchor_position, max_draft);
}

int GpuDFlashSpeculator::draft_logits(const std::vector<std::int32_t>& context, int max_draft,
                                      std::int32_t vocab_size, std::vector<float>& logits) {
  if (!host_->sample_drafts() || context.empty()) return 0;
  const int rows = std::min(max_draft, drafter_->block_size() - 1);
  if (rows <= 0) return 0;
  const DeviceGuard on(device_);
  const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
  // The drafter scores with the target's lm_head, so its rows are vocab_size wide.
  logits.resize(static_cast<std::size_t>(rows) * vocab_size);
  copy_to_host(logits.data(), drafter_->device_logits(context.back(), anchor_position),
               logits.size() * sizeof(float));
  return rows;
}

std::vector<std::int32_t> GpuDFlashSpeculator::draw_on_device(
    const std::vector<std::int32_t>& context, const std::vector<exec::SampleRequest>& requests) {
  if (context.empty() || requests.empty() ||
      static_cast<int>(requests.size()) > drafter_->block_size() - 1) {
    return {};
  }
  const DeviceGuard on(device_);
  const std::int64_t anchor_position = static_cast<std::int64_t>(context.size()) - 1;
  return draws_->draw(drafter_->device_logits(context.back(), anchor_position), requests);
}

}  // namespace mimo::cuda
