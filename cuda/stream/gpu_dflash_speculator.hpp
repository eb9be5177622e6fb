// The DFlash speculator of a model that runs on the GPU: the checkpoint is loaded and validated
// by spec::DFlashSpeculator (same rules, same errors), and the drafter forward runs on the
// device (GpuDrafter) against the target's device embedding and lm_head (DraftTarget: the
// target's own device, or rank 0's of a tensor-parallel target; every call runs there and
// restores the caller's current device). As an
// exec::DeviceTapsReader it takes the target's taps where the GpuExecutor left them; as an
// exec::DeviceDraftDrawer it draws sampled drafts on the device and keeps their distributions
// there for the verify step.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cuda/stream/draft_draws.hpp"
#include "cuda/stream/gpu_drafter.hpp"
#include "exec/device_drafts.hpp"
#include "exec/device_taps.hpp"
#include "mimo/speculator.hpp"
#include "spec/dflash_speculator.hpp"

namespace mimo::cuda {

class GpuDFlashSpeculator final : public Speculator,
                                  public exec::DeviceTapsReader,
                                  public exec::DeviceDraftDrawer {
 public:
  // host: the loaded drafter (its weights are uploaded here; it stays alive for its config).
  // head: the target's embedding and whole lm_head on `device`.
  GpuDFlashSpeculator(std::unique_ptr<spec::DFlashSpeculator> host,
                      const model::ModelConfig& target, const DeviceModel& head, int device);
  ~GpuDFlashSpeculator() override;

  std::string name() const override { return "dflash"; }
  int max_draft() const override { return drafter_->block_size() - 1; }
  std::vector<int> feature_layers() const override { return host_->feature_layers(); }
  void observe(std::int64_t first_position, const float* features, std::int64_t rows) override;
  void truncate(std::int64_t length) override;
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context,
                                    int max_draft) override;
  // The drafter's lm_head rows for the block, downloaded (0 rows when built with sample_drafts
  // off): the session draws sampled drafts from them and verifies with the min(1, p/q) rule.
  int draft_logits(const std::vector<std::int32_t>& context, int max_draft, std::int32_t vocab_size,
                   std::vector<float>& logits) override;

  bool accepts_device_taps() const override { return device_taps_; }
  void observe_device(std::int64_t first_position, const exec::DeviceTaps& taps,
                      std::int64_t rows) override;
  // Off: the session hands taps through host memory (observe), as for any speculator (tests).
  void set_device_taps(bool on) { device_taps_ = on; }

  // Device draws: on when sampled drafts are (DFlashOptions::sample_drafts).
  bool draws_on_device() const override { return host_->sample_drafts(); }
  std::vector<std::int32_t> draw_on_device(
      const std::vector<std::int32_t>& context,
      const std::vector<exec::SampleRequest>& requests) override;
  const void* device_proposal(int row) const override { return draws_->proposal(row); }
  std::vector<float> proposals_to_host(int rows) const override;
  std::int64_t device_draws() const { return draws_->draws(); }
  int device() const { return device_; }

  GpuDrafter& drafter() { return *drafter_; }

 private:
  std::unique_ptr<spec::DFlashSpeculator> host_;
  int device_;
  std::unique_ptr<GpuDrafter> drafter_;
  bool device_taps_ = true;
  std::unique_ptr<DraftDraws> draws_;
};

}  // namespace mimo::cuda
